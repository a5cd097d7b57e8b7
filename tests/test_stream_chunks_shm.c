/* SPDX-License-Identifier: MIT */
/*
 * Random chunking, both directions at once, over the shared-memory rings
 * of a local move (docs/stream.md §7), with 256 KiB rings so that they
 * wrap and fill all the time (sends of up to 64 MiB go through in pieces,
 * the sender sleeping for room and the receiver for bytes). See
 * stream_chunks.h. In the unix variant there is no local move: the same
 * run over the SAN socket. SAN_TEST_TRANSPORTS
 */
#define CH_FLOW SAN_STREAM_FLOW_READ
#define CH_THRESHOLD (64u << 10)
#define CH_SHM 1
#include "stream_chunks.h"
