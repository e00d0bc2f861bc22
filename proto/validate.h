/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inside proto/: the header check that the receiver (wire.c) runs as soon
 * as a header is complete, before the payload has arrived, and that
 * dkm_wire_validate (validate.c) runs again on the whole message.
 */
#ifndef DKM_PROTO_VALIDATE_H
#define DKM_PROTO_VALIDATE_H

#include "proto.h"

/* Everything the header alone tells. 0, -EPROTO or -EMSGSIZE (payload too large). */
int dkm_wire_check_header(const struct dkm_msg_header *h);

#endif
