/* SPDX-License-Identifier: MIT */
/*
 * Random chunking, both directions at once, read flow (the receiver
 * RDMA-reads the sender's buffer), RDMA threshold 64 KiB. See
 * stream_chunks.h. SAN_TEST_TRANSPORTS
 */
#define CH_FLOW SAN_STREAM_FLOW_READ
#define CH_THRESHOLD (64u << 10)
#include "stream_chunks.h"
