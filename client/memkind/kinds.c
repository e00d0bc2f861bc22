/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The built-in kinds of memkind 1.14 and what each becomes here, the kind
 * variables programs read (data symbols: pointers to our struct memkind),
 * kind management, error messages, the version, statistics.
 */
#include <errno.h>
#include <numa.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mk.h"

/* memkind_get_version(): the memkind release whose interface this is. */
#define DKM_MK_VERSION (1 * 1000000 + 14 * 1000 + 0)

#define SYSTEM(n) { .name = n, .cls = DKM_MK_SYSTEM }
#define REGULAR(n) { .name = n, .cls = DKM_MK_REGULAR }
#define DAX(n, k) { .name = n, .cls = DKM_MK_DAX, .dax = k }
#define NONE(n, err, cap) \
	{ .name = n, .cls = DKM_MK_UNAVAILABLE, .unavailable = err, .capacity = cap }

/*
 * Kinds not served answer check_available with the error memkind itself
 * gives on a machine without that memory: MEMORY_TYPE_NOT_AVAILABLE for the
 * high-bandwidth and latency kinds, HUGETLB for the huge-page kinds, and
 * UNAVAILABLE for the kinds memkind would place by capacity or interleave
 * over nodes, which daxkmemd does not broker. Their capacity is what memkind
 * reports for them then: 0 for the huge-page pools, -1 otherwise.
 */
struct memkind dkm_mk_kinds[MEMKIND_NUM_BASE_KIND] = {
	[MEMKIND_PARTITION_DEFAULT] = SYSTEM("memkind_default"),
	[MEMKIND_PARTITION_HBW] = NONE("memkind_hbw", MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, -1),
	[MEMKIND_PARTITION_HBW_HUGETLB] =
		NONE("memkind_hbw_hugetlb", MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, -1),
	[MEMKIND_PARTITION_HBW_PREFERRED] =
		NONE("memkind_hbw_preferred", MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, -1),
	[MEMKIND_PARTITION_HBW_PREFERRED_HUGETLB] =
		NONE("memkind_hbw_preferred_hugetlb", MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, -1),
	[MEMKIND_PARTITION_HUGETLB] = NONE("memkind_hugetlb", MEMKIND_ERROR_HUGETLB, 0),
	[MEMKIND_PARTITION_HBW_GBTLB] = NONE("memkind_hbw_gbtlb", MEMKIND_ERROR_HUGETLB, -1),
	[MEMKIND_PARTITION_HBW_PREFERRED_GBTLB] =
		NONE("memkind_hbw_preferred_gbtlb", MEMKIND_ERROR_HUGETLB, -1),
	[MEMKIND_PARTITION_GBTLB] = NONE("memkind_gbtlb", MEMKIND_ERROR_HUGETLB, 0),
	[MEMKIND_PARTITION_HBW_INTERLEAVE] =
		NONE("memkind_hbw_interleave", MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, -1),
	[MEMKIND_PARTITION_INTERLEAVE] = NONE("memkind_interleave", MEMKIND_ERROR_UNAVAILABLE, -1),
	[MEMKIND_PARTITION_REGULAR] = REGULAR("memkind_regular"),
	[MEMKIND_PARTITION_HBW_ALL] = NONE("memkind_hbw_all", MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, -1),
	[MEMKIND_PARTITION_HBW_ALL_HUGETLB] =
		NONE("memkind_hbw_all_hugetlb", MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, -1),
	[MEMKIND_PARTITION_DAX_KMEM] = DAX("memkind_dax_kmem", DAXKMEM_KIND_KMEM),
	[MEMKIND_PARTITION_DAX_KMEM_ALL] = DAX("memkind_dax_kmem_all", DAXKMEM_KIND_KMEM_ALL),
	[MEMKIND_PARTITION_DAX_KMEM_PREFERRED] =
		DAX("memkind_dax_kmem_preferred", DAXKMEM_KIND_KMEM_PREFERRED),
	/*
	 * Interleaving over the KMEM nodes is a kind of the daemon's, not of this
	 * library: this entry becomes DAX(..., the interleaved daxkmem kind) once
	 * daxkmemd serves one. Until then it is unavailable, as memkind reports a
	 * kind it cannot serve, and callers take their fallback.
	 */
	[MEMKIND_PARTITION_DAX_KMEM_INTERLEAVE] =
		NONE("memkind_dax_kmem_interleave", MEMKIND_ERROR_UNAVAILABLE, -1),
	[MEMKIND_PARTITION_HIGHEST_CAPACITY] =
		NONE("memkind_highest_capacity", MEMKIND_ERROR_UNAVAILABLE, -1),
	[MEMKIND_PARTITION_HIGHEST_CAPACITY_PREFERRED] =
		NONE("memkind_highest_capacity_preferred", MEMKIND_ERROR_UNAVAILABLE, -1),
	[MEMKIND_PARTITION_HIGHEST_CAPACITY_LOCAL] =
		NONE("memkind_highest_capacity_local", MEMKIND_ERROR_UNAVAILABLE, -1),
	[MEMKIND_PARTITION_HIGHEST_CAPACITY_LOCAL_PREFERRED] =
		NONE("memkind_highest_capacity_local_preferred", MEMKIND_ERROR_UNAVAILABLE, -1),
	[MEMKIND_PARTITION_LOWEST_LATENCY_LOCAL] =
		NONE("memkind_lowest_latency_local", MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, -1),
	[MEMKIND_PARTITION_LOWEST_LATENCY_LOCAL_PREFERRED] =
		NONE("memkind_lowest_latency_local_preferred", MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE,
		     -1),
	[MEMKIND_PARTITION_HIGHEST_BANDWIDTH_LOCAL] =
		NONE("memkind_highest_bandwidth_local", MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, -1),
	[MEMKIND_PARTITION_HIGHEST_BANDWIDTH_LOCAL_PREFERRED] =
		NONE("memkind_highest_bandwidth_local_preferred",
		     MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, -1),
};

/*
 * The kind variables: data symbols holding a pointer to the kind, read by
 * programs linked to memkind (possibly through a copy relocation, so each
 * is exactly a pointer) and by OpenMP runtimes through dlsym.
 */
#define KIND_VAR(name, part) DKM_MK_EXPORT memkind_t name = &dkm_mk_kinds[part]
KIND_VAR(MEMKIND_DEFAULT, MEMKIND_PARTITION_DEFAULT);
KIND_VAR(MEMKIND_HBW, MEMKIND_PARTITION_HBW);
KIND_VAR(MEMKIND_HBW_HUGETLB, MEMKIND_PARTITION_HBW_HUGETLB);
KIND_VAR(MEMKIND_HBW_PREFERRED, MEMKIND_PARTITION_HBW_PREFERRED);
KIND_VAR(MEMKIND_HBW_PREFERRED_HUGETLB, MEMKIND_PARTITION_HBW_PREFERRED_HUGETLB);
KIND_VAR(MEMKIND_HUGETLB, MEMKIND_PARTITION_HUGETLB);
KIND_VAR(MEMKIND_HBW_GBTLB, MEMKIND_PARTITION_HBW_GBTLB);
KIND_VAR(MEMKIND_HBW_PREFERRED_GBTLB, MEMKIND_PARTITION_HBW_PREFERRED_GBTLB);
KIND_VAR(MEMKIND_GBTLB, MEMKIND_PARTITION_GBTLB);
KIND_VAR(MEMKIND_HBW_INTERLEAVE, MEMKIND_PARTITION_HBW_INTERLEAVE);
KIND_VAR(MEMKIND_INTERLEAVE, MEMKIND_PARTITION_INTERLEAVE);
KIND_VAR(MEMKIND_REGULAR, MEMKIND_PARTITION_REGULAR);
KIND_VAR(MEMKIND_HBW_ALL, MEMKIND_PARTITION_HBW_ALL);
KIND_VAR(MEMKIND_HBW_ALL_HUGETLB, MEMKIND_PARTITION_HBW_ALL_HUGETLB);
KIND_VAR(MEMKIND_DAX_KMEM, MEMKIND_PARTITION_DAX_KMEM);
KIND_VAR(MEMKIND_DAX_KMEM_ALL, MEMKIND_PARTITION_DAX_KMEM_ALL);
KIND_VAR(MEMKIND_DAX_KMEM_PREFERRED, MEMKIND_PARTITION_DAX_KMEM_PREFERRED);
KIND_VAR(MEMKIND_DAX_KMEM_INTERLEAVE, MEMKIND_PARTITION_DAX_KMEM_INTERLEAVE);
KIND_VAR(MEMKIND_HIGHEST_CAPACITY, MEMKIND_PARTITION_HIGHEST_CAPACITY);
KIND_VAR(MEMKIND_HIGHEST_CAPACITY_PREFERRED, MEMKIND_PARTITION_HIGHEST_CAPACITY_PREFERRED);
KIND_VAR(MEMKIND_HIGHEST_CAPACITY_LOCAL, MEMKIND_PARTITION_HIGHEST_CAPACITY_LOCAL);
KIND_VAR(MEMKIND_HIGHEST_CAPACITY_LOCAL_PREFERRED,
	 MEMKIND_PARTITION_HIGHEST_CAPACITY_LOCAL_PREFERRED);
KIND_VAR(MEMKIND_LOWEST_LATENCY_LOCAL, MEMKIND_PARTITION_LOWEST_LATENCY_LOCAL);
KIND_VAR(MEMKIND_LOWEST_LATENCY_LOCAL_PREFERRED, MEMKIND_PARTITION_LOWEST_LATENCY_LOCAL_PREFERRED);
KIND_VAR(MEMKIND_HIGHEST_BANDWIDTH_LOCAL, MEMKIND_PARTITION_HIGHEST_BANDWIDTH_LOCAL);
KIND_VAR(MEMKIND_HIGHEST_BANDWIDTH_LOCAL_PREFERRED,
	 MEMKIND_PARTITION_HIGHEST_BANDWIDTH_LOCAL_PREFERRED);

memkind_t dkm_mk_from_dax(int dax_kind)
{
	switch (dax_kind) {
	case DAXKMEM_KIND_KMEM:
		return &dkm_mk_kinds[MEMKIND_PARTITION_DAX_KMEM];
	case DAXKMEM_KIND_KMEM_ALL:
		return &dkm_mk_kinds[MEMKIND_PARTITION_DAX_KMEM_ALL];
	case DAXKMEM_KIND_KMEM_PREFERRED:
		return &dkm_mk_kinds[MEMKIND_PARTITION_DAX_KMEM_PREFERRED];
	default:
		return NULL;
	}
}

void dkm_mk_log(const char *fmt, ...)
{
	static int log = -1;
	va_list ap;

	if (log < 0) {
		const char *s = secure_getenv("DAXKMEM_LOG");

		log = s && *s && strcmp(s, "0") != 0;
	}
	if (!log)
		return;
	va_start(ap, fmt);
	fputs("libmemkind (daxkmem): ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ======================================================================
 * Availability and kind management
 * ====================================================================== */

DKM_MK_EXPORT int memkind_check_available(memkind_t kind)
{
	if (!dkm_mk_valid(kind))
		return MEMKIND_ERROR_INVALID;
	switch (kind->cls) {
	case DKM_MK_SYSTEM:
		return MEMKIND_SUCCESS;
	case DKM_MK_REGULAR:
		return dkm_mk_regular_check();
	case DKM_MK_DAX: {
		int saved = errno, r = dkm_mk_dax_ready();

		if (r == 0 && daxkmem_check_available(kind->dax) != 0)
			r = MEMKIND_ERROR_UNAVAILABLE; /* DAXKMEM_LOG=1 shows the daemon's reason */
		errno = saved;
		return r;
	}
	case DKM_MK_UNAVAILABLE:
	default:
		return kind->unavailable;
	}
}

/*
 * memkind_create_kind: the combinations memkind 1.14 implements, each a
 * built-in kind. A kind that is not available is an error, except that
 * PREFERRED_LOCAL falls back to MEMKIND_DEFAULT, as in memkind.
 */
DKM_MK_EXPORT int memkind_create_kind(memkind_memtype_t memtype_flags, memkind_policy_t policy,
				      memkind_bits_t flags, memkind_t *kind)
{
	static const struct {
		unsigned memtype;
		int policy;
		unsigned flags;
		int partition;
	} table[] = {
		{ MEMKIND_MEMTYPE_HIGH_BANDWIDTH, MEMKIND_POLICY_BIND_LOCAL, 0, MEMKIND_PARTITION_HBW },
		{ MEMKIND_MEMTYPE_HIGH_BANDWIDTH, MEMKIND_POLICY_BIND_LOCAL, MEMKIND_MASK_PAGE_SIZE_2MB,
		  MEMKIND_PARTITION_HBW_HUGETLB },
		{ MEMKIND_MEMTYPE_HIGH_BANDWIDTH, MEMKIND_POLICY_BIND_ALL, 0, MEMKIND_PARTITION_HBW_ALL },
		{ MEMKIND_MEMTYPE_HIGH_BANDWIDTH, MEMKIND_POLICY_BIND_ALL, MEMKIND_MASK_PAGE_SIZE_2MB,
		  MEMKIND_PARTITION_HBW_ALL_HUGETLB },
		{ MEMKIND_MEMTYPE_HIGH_BANDWIDTH, MEMKIND_POLICY_PREFERRED_LOCAL, 0,
		  MEMKIND_PARTITION_HBW_PREFERRED },
		{ MEMKIND_MEMTYPE_HIGH_BANDWIDTH, MEMKIND_POLICY_PREFERRED_LOCAL,
		  MEMKIND_MASK_PAGE_SIZE_2MB, MEMKIND_PARTITION_HBW_PREFERRED_HUGETLB },
		{ MEMKIND_MEMTYPE_HIGH_BANDWIDTH, MEMKIND_POLICY_INTERLEAVE_ALL, 0,
		  MEMKIND_PARTITION_HBW_INTERLEAVE },
		{ MEMKIND_MEMTYPE_DEFAULT, MEMKIND_POLICY_PREFERRED_LOCAL, 0, MEMKIND_PARTITION_DEFAULT },
		{ MEMKIND_MEMTYPE_DEFAULT, MEMKIND_POLICY_PREFERRED_LOCAL, MEMKIND_MASK_PAGE_SIZE_2MB,
		  MEMKIND_PARTITION_HUGETLB },
		{ MEMKIND_MEMTYPE_DEFAULT | MEMKIND_MEMTYPE_HIGH_BANDWIDTH, MEMKIND_POLICY_INTERLEAVE_ALL,
		  0, MEMKIND_PARTITION_INTERLEAVE },
	};
	unsigned mt = (unsigned)memtype_flags;

	if (mt == 0 || (mt & ~(unsigned)(MEMKIND_MEMTYPE_DEFAULT | MEMKIND_MEMTYPE_HIGH_BANDWIDTH)) ||
	    (int)policy < 0 || policy >= MEMKIND_POLICY_MAX_VALUE || !kind)
		return MEMKIND_ERROR_INVALID;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		memkind_t k = &dkm_mk_kinds[table[i].partition];

		if (table[i].memtype != mt || table[i].policy != (int)policy ||
		    table[i].flags != (unsigned)flags)
			continue;
		if (memkind_check_available(k) == 0) {
			*kind = k;
			return MEMKIND_SUCCESS;
		}
		if (policy == MEMKIND_POLICY_PREFERRED_LOCAL) {
			*kind = &dkm_mk_kinds[MEMKIND_PARTITION_DEFAULT];
			return MEMKIND_SUCCESS;
		}
		return MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE;
	}
	return MEMKIND_ERROR_INVALID;
}

/* Every kind is built in: there is nothing to destroy, and no kind can be created from files. */
DKM_MK_EXPORT int memkind_destroy_kind(memkind_t kind)
{
	return dkm_mk_valid(kind) ? MEMKIND_SUCCESS : MEMKIND_ERROR_OPERATION_FAILED;
}

DKM_MK_EXPORT int memkind_get_kind_by_partition(int partition, memkind_t *kind)
{
	if (partition < 0 || partition >= MEMKIND_NUM_BASE_KIND) {
		if (kind)
			*kind = NULL;
		return MEMKIND_ERROR_UNAVAILABLE;
	}
	if (!kind)
		return MEMKIND_ERROR_INVALID;
	*kind = &dkm_mk_kinds[partition];
	return MEMKIND_SUCCESS;
}

/*
 * File-backed (PMEM) kinds and kinds on a caller's memory area are not
 * served: daxkmem brokers KMEM nodes, not files. The arguments are checked as
 * memkind checks them, then the answer is that the kind is not available;
 * *kind is left alone.
 */
DKM_MK_EXPORT int memkind_create_pmem(const char *dir, size_t max_size, memkind_t *kind)
{
	struct stat st;

	if (!dir || !kind || (max_size != 0 && max_size < MEMKIND_PMEM_MIN_SIZE) ||
	    stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return MEMKIND_ERROR_INVALID;
	dkm_mk_log("memkind_create_pmem(%s): file-backed kinds are not served by daxkmem", dir);
	return MEMKIND_ERROR_UNAVAILABLE;
}

struct memkind_config {
	char *path;
	size_t size;
	memkind_mem_usage_policy policy;
};

DKM_MK_EXPORT int memkind_create_pmem_with_config(struct memkind_config *cfg, memkind_t *kind)
{
	if (!cfg)
		return MEMKIND_ERROR_INVALID;
	return memkind_create_pmem(cfg->path, cfg->size, kind);
}

DKM_MK_EXPORT int memkind_create_fixed(void *addr, size_t size, memkind_t *kind)
{
	if (!addr || !size || !kind)
		return MEMKIND_ERROR_INVALID;
	dkm_mk_log("memkind_create_fixed(%p, %zu): kinds on a caller's memory are not served by "
		   "daxkmem", addr, size);
	return MEMKIND_ERROR_UNAVAILABLE;
}

DKM_MK_EXPORT int memkind_check_dax_path(const char *pmem_dir)
{
	(void)pmem_dir;
	return MEMKIND_ERROR_UNAVAILABLE;
}

DKM_MK_EXPORT struct memkind_config *memkind_config_new(void)
{
	return calloc(1, sizeof(struct memkind_config));
}

DKM_MK_EXPORT void memkind_config_delete(struct memkind_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg);
}

DKM_MK_EXPORT void memkind_config_set_path(struct memkind_config *cfg, const char *pmem_dir)
{
	if (!cfg)
		return;
	free(cfg->path);
	cfg->path = pmem_dir ? strdup(pmem_dir) : NULL;
}

DKM_MK_EXPORT void memkind_config_set_size(struct memkind_config *cfg, size_t pmem_size)
{
	if (cfg)
		cfg->size = pmem_size;
}

DKM_MK_EXPORT void memkind_config_set_memory_usage_policy(struct memkind_config *cfg,
							  memkind_mem_usage_policy policy)
{
	if (cfg)
		cfg->policy = policy;
}

/* Bytes on the nodes of DEFAULT: every node with memory. */
static ssize_t system_capacity(void)
{
	long long total = 0;

	if (numa_available() < 0)
		return -1;
	for (int n = 0; n <= numa_max_node(); n++) {
		long long size;

		if (!numa_bitmask_isbitset(numa_nodes_ptr, (unsigned)n))
			continue;
		size = numa_node_size64(n, NULL);
		if (size > 0)
			total += size;
	}
	return total > 0 ? (ssize_t)total : -1;
}

DKM_MK_EXPORT ssize_t memkind_get_capacity(memkind_t kind)
{
	if (!dkm_mk_valid(kind))
		return -1;
	switch (kind->cls) {
	case DKM_MK_SYSTEM:
		return system_capacity();
	case DKM_MK_REGULAR:
		return dkm_mk_regular_capacity();
	case DKM_MK_DAX:
		return dkm_mk_dax_capacity(kind);
	case DKM_MK_UNAVAILABLE:
	default:
		return kind->capacity;
	}
}

/* ======================================================================
 * Errors and version
 * ====================================================================== */

DKM_MK_EXPORT int memkind_get_version(void)
{
	return DKM_MK_VERSION;
}

/*
 * The texts of memkind 1.14, word for word (programs and logs compare them),
 * written as it writes them: a fixed text padded with NULs to size
 * (strncpy), a formatted one terminated (snprintf), and in both cases the
 * last byte of msg a NUL, even when that cuts the text.
 */
DKM_MK_EXPORT void memkind_error_message(int err, char *msg, size_t size)
{
	const char *text = NULL;

	if (!msg || !size)
		return;
	switch (err) {
	case MEMKIND_ERROR_UNAVAILABLE:
		text = "<memkind> Requested memory kind is not available";
		break;
	case MEMKIND_ERROR_MBIND:
		text = "<memkind> Call to mbind() failed";
		break;
	case MEMKIND_ERROR_MMAP:
		text = "<memkind> Call to mmap() failed";
		break;
	case MEMKIND_ERROR_MALLOC:
		text = "<memkind> Call to malloc() failed";
		break;
	case MEMKIND_ERROR_ENVIRON:
		text = "<memkind> Error parsing environment variable (MEMKIND_*)";
		break;
	case MEMKIND_ERROR_INVALID:
		text = "<memkind> Invalid input arguments to memkind routine";
		break;
	case MEMKIND_ERROR_TOOMANY:
		snprintf(msg, size,
			 "<memkind> Attempted to initialize more than maximum (%i) number of kinds",
			 MEMKIND_MAX_KIND);
		break;
	case MEMKIND_ERROR_BADOPS:
		text = "<memkind> memkind_ops structure is poorly formed (missing or incorrect "
		       "functions)";
		break;
	case MEMKIND_ERROR_HUGETLB:
		text = "<memkind> unable to allocate huge pages";
		break;
	case MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE:
		text = "<memkind> Requested memory type is not available";
		break;
	case MEMKIND_ERROR_OPERATION_FAILED:
		text = "<memkind> Operation failed";
		break;
	case MEMKIND_ERROR_ARENAS_CREATE:
		text = "<memkind> Call to jemalloc's arenas.create () failed";
		break;
	case MEMKIND_ERROR_RUNTIME:
		text = "<memkind> Unspecified run-time error";
		break;
	case EINVAL:
		text = "<memkind> Alignment must be a power of two and larger than sizeof(void *)";
		break;
	case ENOMEM:
		text = "<memkind> Call to jemk_mallocx() failed";
		break;
	default:
		snprintf(msg, size, "<memkind> Undefined error number: %i", err);
		break;
	}
	if (text)
		strncpy(msg, text, size);
	msg[size - 1] = '\0';
}

/* ======================================================================
 * Statistics and tuning: nothing is counted, and there are no threads to start
 * ====================================================================== */

DKM_MK_EXPORT int memkind_update_cached_stats(void)
{
	return MEMKIND_SUCCESS;
}

/*
 * The drop-in keeps no statistics of its own (daxkmemctl status and clients
 * show what the daemon granted): valid requests fail with
 * OPERATION_FAILED, invalid ones as in memkind.
 */
DKM_MK_EXPORT int memkind_get_stat(memkind_t kind, memkind_stat_type stat, size_t *value)
{
	if ((unsigned)stat >= MEMKIND_STAT_TYPE_MAX_VALUE || !value ||
	    (kind && !dkm_mk_valid(kind)))
		return MEMKIND_ERROR_INVALID;
	return MEMKIND_ERROR_OPERATION_FAILED;
}

static void stats_write_stderr(void *opaque, const char *s)
{
	(void)opaque;
	fputs(s, stderr);
}

DKM_MK_EXPORT int memkind_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
				      memkind_stat_print_opt opts)
{
	if ((unsigned)opts & ~DKM_MK_STAT_PRINT_ALL_OPTS)
		return MEMKIND_ERROR_INVALID;
	if (!write_cb)
		write_cb = stats_write_stderr;
	if ((unsigned)opts & MEMKIND_STAT_PRINT_JSON_FORMAT)
		write_cb(cbopaque, "{\"daxkmem-memkind\": {\"statistics\": null}}\n");
	else
		write_cb(cbopaque, "daxkmem memkind drop-in: no allocator statistics are kept; "
				   "daxkmemctl status shows what daxkmemd granted\n");
	return MEMKIND_SUCCESS;
}

DKM_MK_EXPORT int memkind_set_bg_threads(bool state)
{
	(void)state;
	return MEMKIND_SUCCESS;
}
