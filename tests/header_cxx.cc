#include <san.h>
#include <san/wsp.h>
int san_header_cxx_compiles;
