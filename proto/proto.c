/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The values of proto.h by name (message types, kinds), and node sets (wire.h). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

const char *dkm_msg_type_name(uint16_t type)
{
	switch (type) {
	case DKM_MSG_HELLO:
		return "HELLO";
	case DKM_MSG_HELLO_REPLY:
		return "HELLO_REPLY";
	case DKM_MSG_ALLOC_REGION:
		return "ALLOC_REGION";
	case DKM_MSG_REGION:
		return "REGION";
	case DKM_MSG_RELEASE_REGION:
		return "RELEASE_REGION";
	case DKM_MSG_RELEASED:
		return "RELEASED";
	case DKM_MSG_STATUS:
		return "STATUS";
	case DKM_MSG_STATUS_REPLY:
		return "STATUS_REPLY";
	case DKM_MSG_CLIENTS:
		return "CLIENTS";
	case DKM_MSG_CLIENTS_REPLY:
		return "CLIENTS_REPLY";
	case DKM_MSG_DEVICES:
		return "DEVICES";
	case DKM_MSG_DEVICES_REPLY:
		return "DEVICES_REPLY";
	case DKM_MSG_RECONFIGURE:
		return "RECONFIGURE";
	case DKM_MSG_RECONFIGURE_REPLY:
		return "RECONFIGURE_REPLY";
	case DKM_MSG_ERROR:
		return "ERROR";
	default:
		return "unknown";
	}
}

const char *dkm_kind_name(uint32_t kind)
{
	switch (kind) {
	case DKM_KIND_KMEM:
		return "KMEM";
	case DKM_KIND_KMEM_ALL:
		return "KMEM_ALL";
	case DKM_KIND_KMEM_PREFERRED:
		return "KMEM_PREFERRED";
	default:
		return NULL;
	}
}

void dkm_nodeset_set(struct dkm_nodeset *s, unsigned node)
{
	if (node < DKM_PROTO_MAX_NODES)
		s->words[node / 64] |= UINT64_C(1) << (node % 64);
}

bool dkm_nodeset_test(const struct dkm_nodeset *s, unsigned node)
{
	return node < DKM_PROTO_MAX_NODES && (s->words[node / 64] >> (node % 64)) & 1;
}

bool dkm_nodeset_empty(const struct dkm_nodeset *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(s->words); i++)
		if (s->words[i])
			return false;
	return true;
}
