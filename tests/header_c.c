#include <san.h>
#include <san/wsp.h>
int san_header_c_compiles;
