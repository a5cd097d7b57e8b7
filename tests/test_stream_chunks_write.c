/* SPDX-License-Identifier: MIT */
/*
 * Random chunking, both directions at once, write flow (the sender
 * RDMA-writes into the buffer a blocked receiver offered, else falls back
 * to the read flow), RDMA threshold 100000 bytes (not a slot multiple).
 * See stream_chunks.h. SAN_TEST_TRANSPORTS
 */
#define CH_FLOW SAN_STREAM_FLOW_WRITE
#define CH_THRESHOLD 100000u
#include "stream_chunks.h"
