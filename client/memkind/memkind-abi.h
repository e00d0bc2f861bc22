/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The interface of memkind 1.14 that the drop-in provides: the functions and
 * kind variables of <memkind.h> (with <memkind_deprecated.h>) and
 * <hbwmalloc.h>, with the names, types and numeric values their manual pages
 * document. Written for this library: it does not include memkind's headers,
 * so building daxkmem does not need libmemkind-dev (the tests compare the
 * result against the real library).
 */
#ifndef DKM_MEMKIND_ABI_H
#define DKM_MEMKIND_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define DKM_MK_EXPORT __attribute__((visibility("default")))

typedef struct memkind *memkind_t;

/* Operation statuses (memkind(3), ERRORS). */
enum {
	MEMKIND_SUCCESS = 0,
	MEMKIND_ERROR_UNAVAILABLE = -1,
	MEMKIND_ERROR_MBIND = -2,
	MEMKIND_ERROR_MMAP = -3,
	MEMKIND_ERROR_MALLOC = -6,
	MEMKIND_ERROR_ENVIRON = -12,
	MEMKIND_ERROR_INVALID = -13,
	MEMKIND_ERROR_TOOMANY = -15,
	MEMKIND_ERROR_BADOPS = -17,
	MEMKIND_ERROR_HUGETLB = -18,
	MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE = -20,
	MEMKIND_ERROR_OPERATION_FAILED = -21,
	MEMKIND_ERROR_ARENAS_CREATE = -22,
	MEMKIND_ERROR_RUNTIME = -255,
};

enum { MEMKIND_MAX_KIND = 512, MEMKIND_PMEM_MIN_SIZE = 16 * 1024 * 1024 };

typedef enum {
	MEMKIND_MEMTYPE_DEFAULT = 1,
	MEMKIND_MEMTYPE_HIGH_BANDWIDTH = 2,
} memkind_memtype_t;

typedef enum {
	MEMKIND_POLICY_BIND_LOCAL = 0,
	MEMKIND_POLICY_BIND_ALL,
	MEMKIND_POLICY_PREFERRED_LOCAL,
	MEMKIND_POLICY_INTERLEAVE_LOCAL,
	MEMKIND_POLICY_INTERLEAVE_ALL,
	MEMKIND_POLICY_MAX_VALUE,
} memkind_policy_t;

typedef enum { MEMKIND_MASK_PAGE_SIZE_2MB = 21 } memkind_bits_t;

typedef enum {
	MEMKIND_MEM_USAGE_POLICY_DEFAULT = 0,
	MEMKIND_MEM_USAGE_POLICY_CONSERVATIVE = 1,
	MEMKIND_MEM_USAGE_POLICY_MAX_VALUE,
} memkind_mem_usage_policy;

typedef enum {
	MEMKIND_STAT_TYPE_RESIDENT = 0,
	MEMKIND_STAT_TYPE_ACTIVE = 1,
	MEMKIND_STAT_TYPE_ALLOCATED = 2,
	MEMKIND_STAT_TYPE_MAX_VALUE,
} memkind_stat_type;

typedef enum {
	MEMKIND_STAT_PRINT_ALL = 0,
	MEMKIND_STAT_PRINT_JSON_FORMAT = 1u << 0,
	MEMKIND_STAT_PRINT_OMIT_EXTENT = 1u << 8, /* the highest option bit */
} memkind_stat_print_opt;
#define DKM_MK_STAT_PRINT_ALL_OPTS ((1u << 9) - 1)

/* <memkind_deprecated.h>: partitions, in the order of the built-in kinds. */
enum memkind_base_partition {
	MEMKIND_PARTITION_DEFAULT = 0,
	MEMKIND_PARTITION_HBW = 1,
	MEMKIND_PARTITION_HBW_HUGETLB = 2,
	MEMKIND_PARTITION_HBW_PREFERRED = 3,
	MEMKIND_PARTITION_HBW_PREFERRED_HUGETLB = 4,
	MEMKIND_PARTITION_HUGETLB = 5,
	MEMKIND_PARTITION_HBW_GBTLB = 6,
	MEMKIND_PARTITION_HBW_PREFERRED_GBTLB = 7,
	MEMKIND_PARTITION_GBTLB = 8,
	MEMKIND_PARTITION_HBW_INTERLEAVE = 9,
	MEMKIND_PARTITION_INTERLEAVE = 10,
	MEMKIND_PARTITION_REGULAR = 11,
	MEMKIND_PARTITION_HBW_ALL = 12,
	MEMKIND_PARTITION_HBW_ALL_HUGETLB = 13,
	MEMKIND_PARTITION_DAX_KMEM = 14,
	MEMKIND_PARTITION_DAX_KMEM_ALL = 15,
	MEMKIND_PARTITION_DAX_KMEM_PREFERRED = 16,
	MEMKIND_PARTITION_DAX_KMEM_INTERLEAVE = 17,
	MEMKIND_PARTITION_HIGHEST_CAPACITY = 18,
	MEMKIND_PARTITION_HIGHEST_CAPACITY_PREFERRED = 19,
	MEMKIND_PARTITION_HIGHEST_CAPACITY_LOCAL = 20,
	MEMKIND_PARTITION_HIGHEST_CAPACITY_LOCAL_PREFERRED = 21,
	MEMKIND_PARTITION_LOWEST_LATENCY_LOCAL = 22,
	MEMKIND_PARTITION_LOWEST_LATENCY_LOCAL_PREFERRED = 23,
	MEMKIND_PARTITION_HIGHEST_BANDWIDTH_LOCAL = 24,
	MEMKIND_PARTITION_HIGHEST_BANDWIDTH_LOCAL_PREFERRED = 25,
	MEMKIND_NUM_BASE_KIND
};

struct memkind_config;

/* ---- <memkind.h> ---- */
struct memkind_config *memkind_config_new(void);
void memkind_config_delete(struct memkind_config *cfg);
void memkind_config_set_path(struct memkind_config *cfg, const char *pmem_dir);
void memkind_config_set_size(struct memkind_config *cfg, size_t pmem_size);
void memkind_config_set_memory_usage_policy(struct memkind_config *cfg,
					    memkind_mem_usage_policy policy);
int memkind_create_kind(memkind_memtype_t memtype_flags, memkind_policy_t policy,
			memkind_bits_t flags, memkind_t *kind);
int memkind_destroy_kind(memkind_t kind);
memkind_t memkind_detect_kind(void *ptr);
int memkind_get_version(void);
void memkind_error_message(int err, char *msg, size_t size);
int memkind_create_pmem(const char *dir, size_t max_size, memkind_t *kind);
int memkind_create_pmem_with_config(struct memkind_config *cfg, memkind_t *kind);
int memkind_create_fixed(void *addr, size_t size, memkind_t *kind);
int memkind_check_available(memkind_t kind);
ssize_t memkind_get_capacity(memkind_t kind);
int memkind_update_cached_stats(void);
int memkind_get_stat(memkind_t kind, memkind_stat_type stat, size_t *value);
int memkind_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
			memkind_stat_print_opt opts);
void *memkind_malloc(memkind_t kind, size_t size);
size_t memkind_malloc_usable_size(memkind_t kind, void *ptr);
void *memkind_calloc(memkind_t kind, size_t num, size_t size);
int memkind_posix_memalign(memkind_t kind, void **memptr, size_t alignment, size_t size);
void *memkind_realloc(memkind_t kind, void *ptr, size_t size);
void memkind_free(memkind_t kind, void *ptr);
void *memkind_defrag_reallocate(memkind_t kind, void *ptr);
int memkind_check_dax_path(const char *pmem_dir);
int memkind_set_bg_threads(bool state);
/* <memkind_deprecated.h> */
int memkind_get_kind_by_partition(int partition, memkind_t *kind);

/* ---- <hbwmalloc.h> ---- */
typedef enum {
	HBW_POLICY_BIND = 1,
	HBW_POLICY_PREFERRED = 2,
	HBW_POLICY_INTERLEAVE = 3,
	HBW_POLICY_BIND_ALL = 4,
} hbw_policy_t;

typedef enum {
	HBW_PAGESIZE_4KB = 1,
	HBW_PAGESIZE_2MB = 2,
	HBW_PAGESIZE_1GB_STRICT = 3,
	HBW_PAGESIZE_1GB = 4,
	HBW_PAGESIZE_MAX_VALUE
} hbw_pagesize_t;

enum { HBW_TOUCH_PAGES = 1 << 0 };

hbw_policy_t hbw_get_policy(void);
int hbw_set_policy(hbw_policy_t mode);
int hbw_check_available(void);
int hbw_verify_memory_region(void *addr, size_t size, int flags);
void *hbw_malloc(size_t size);
void *hbw_calloc(size_t num, size_t size);
int hbw_posix_memalign(void **memptr, size_t alignment, size_t size);
int hbw_posix_memalign_psize(void **memptr, size_t alignment, size_t size,
			     hbw_pagesize_t pagesize);
void *hbw_realloc(void *ptr, size_t size);
void hbw_free(void *ptr);
size_t hbw_malloc_usable_size(void *ptr);

#endif
