/* import.c - weir_list_import(): a whole file of prefixes into a list, all
 * or nothing. Single addresses go into the tables through their mapping;
 * prefixes into the tries in batches spread over the CPUs; a failure undoes
 * exactly what the import created.
 */
#include "internal.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define WEIR_IMPORT_BATCH 65536u

static size_t cmp_ksz;
static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, cmp_ksz);
}

/* One thread's share of a batched insert. */
struct batch_job {
	int fd;
	const char *keys;
	const struct weir_entry *vals;
	size_t ksz, n;
	size_t *done, total;
	void (*progress)(size_t, size_t, void *);
	void *ctx;
	int err;
};

static void *batch_run(void *arg)
{
	struct batch_job *j = arg;
	size_t applied = 0;

	while (applied < j->n) {
		__u32 count = (__u32)(j->n - applied < WEIR_IMPORT_BATCH
					      ? j->n - applied : WEIR_IMPORT_BATCH);

		if (bpf_map_update_batch(j->fd, j->keys + applied * j->ksz,
					 j->vals + applied, &count, NULL)) {
			j->err = -errno;
			return NULL;
		}
		applied += count;
		size_t d = __atomic_add_fetch(j->done, count, __ATOMIC_RELAXED);
		if (j->progress && d < j->total)
			j->progress(d, j->total, j->ctx);
	}
	return NULL;
}

#define WEIR_IMPORT_THREADS 4
#define WEIR_IMPORT_THREADED 8192 /* fewer prefixes: not worth a thread */

/* Inserts n keys with their values in batches, spread over up to one thread
 * per CPU: a hash insert is bound by cache misses on random buckets, and the
 * buckets have their own locks, so the CPUs add up. Returns the first error;
 * what was inserted before it is the caller's to remove. */
static int batch_update(int fd, const char *keys, const struct weir_entry *vals,
			size_t ksz, size_t n, size_t *done, size_t total,
			void (*progress)(size_t, size_t, void *), void *ctx)
{
	struct batch_job jobs[WEIR_IMPORT_THREADS];
	pthread_t tids[WEIR_IMPORT_THREADS];
	bool threaded[WEIR_IMPORT_THREADS] = {};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nt = n < WEIR_IMPORT_THREADED ? 1
		    : (size_t)(cpus < 1 ? 1 : cpus > WEIR_IMPORT_THREADS
						       ? WEIR_IMPORT_THREADS : cpus);
	size_t per = (n + nt - 1) / nt;
	int err = 0;

	for (size_t t = 0; t < nt; t++) {
		size_t lo = t * per, cnt = lo >= n ? 0 : (n - lo < per ? n - lo : per);

		jobs[t] = (struct batch_job){ fd, keys + lo * ksz, vals + lo, ksz,
					      cnt, done, total,
					      t == 0 ? progress : NULL, ctx, 0 };
		/* The last share runs here; the others on threads of their own. */
		threaded[t] = t + 1 < nt &&
			      !pthread_create(&tids[t], NULL, batch_run, &jobs[t]);
		if (!threaded[t])
			batch_run(&jobs[t]);
	}
	for (size_t t = 0; t < nt; t++)
		if (threaded[t])
			pthread_join(tids[t], NULL);
	for (size_t t = 0; t < nt; t++)
		if (jobs[t].err && !err)
			err = jobs[t].err;
	if (!err && progress)
		progress(*done, total, ctx);
	return err;
}

/* Is the entry of key there and live? An expired entry no longer matches
 * (weir_abi.h): it is no more present than one reaped since the keys were
 * read. */
static bool entry_live(int fd, const void *key, uint64_t mono)
{
	struct weir_entry e;

	return !weir__trie_get(fd, key, &e) && (!e.expires_ns || e.expires_ns > mono);
}

/* Adds the addresses keys[0..n) to a table, as import_part() does for a
 * trie: memory writes through the mapping, no syscall per entry. */
static int import_table(const struct weir_maps *m, const struct list_part *part,
			char *keys, size_t n, size_t *added, size_t *done,
			size_t total, void (*progress)(size_t, size_t, void *),
			void *ctx)
{
	struct weir_entry e = { .added_ns = weir_real_ns(),
				.prefixlen = part->family == 4 ? 32 : 128 };
	uint64_t mono = weir_mono_ns();
	size_t ksz = part->ksz, n_new = 0;
	struct weir_tab t;
	int err = weir__part_tab(m, part, &t);

	*added = 0;
	if (err)
		return err;
	for (size_t i = 0; i < n && !err; i++) {
		char *k = keys + i * ksz;
		long at = weir_tab_find(&t, k);

		(*done)++;
		if (at >= 0 && (!t.ents[at].expires_ns || t.ents[at].expires_ns > mono))
			continue; /* present and live: keep it */
		err = weir_tab_put(&t, k, &e, false, NULL);
		if (err < 0)
			break;
		err = 0;
		if (n_new != i)
			memcpy(keys + n_new * ksz, k, ksz);
		n_new++;
		if (progress && !(*done % WEIR_IMPORT_BATCH) && *done < total)
			progress(*done, total, ctx);
	}
	if (err) {
		for (size_t i = 0; i < n_new; i++) {
			long at = weir_tab_find(&t, keys + i * ksz);

			if (at >= 0)
				weir_tab_retire(&t, (uint32_t)at);
		}
	} else {
		*added = n_new;
		if (progress)
			progress(*done, total, ctx);
	}
	weir_tab_close(&t);
	return err;
}

/* Adds the keys[0..n) of one part that are not in its map yet, in batches.
 * Prefixes already present and live keep their entry (expiry, hits,
 * comment); an expired one is replaced. On return keys[0..*added) are
 * exactly the keys this call created or replaced, so a later failure can
 * undo them; on failure this part has undone its own. */
static int import_part(const struct list_part *part, char *keys, size_t n,
		       size_t *added, size_t *done, size_t total,
		       void (*progress)(size_t, size_t, void *), void *ctx)
{
	size_t ksz = part->ksz, n_new = 0;
	uint64_t now = weir_real_ns(), mono = weir_mono_ns();
	struct weir_entry *vals;
	struct weir_cidr c;
	void *have = NULL;
	long n_have;
	int err = 0;

	*added = 0;
	n_have = weir__map_keys(part->fd, ksz, &have);
	if (n_have < 0)
		return (int)n_have;
	if (n_have > 0) {
		cmp_ksz = ksz;
		qsort(have, (size_t)n_have, ksz, cmp_key);
	}
	for (size_t i = 0; i < n; i++) {
		char *k = keys + i * ksz;

		if (n_have > 0 && bsearch(k, have, (size_t)n_have, ksz, cmp_key) &&
		    entry_live(part->fd, k, mono))
			continue;
		if (n_new != i)
			memcpy(keys + n_new * ksz, k, ksz);
		n_new++;
	}
	free(have);
	*done += n - n_new;

	vals = calloc(n_new ? n_new : 1, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (size_t i = 0; i < n_new; i++) {
		weir__part_cidr(part, keys + i * ksz, &c);
		vals[i].added_ns = now;
		vals[i].prefixlen = c.prefixlen;
	}
	err = batch_update(part->fd, keys, vals, ksz, n_new, done, total,
			   progress, ctx);
	if (err)
		for (size_t i = 0; i < n_new; i++)
			bpf_map_delete_elem(part->fd, keys + i * ksz);
	else
		*added = n_new;
	free(vals);
	return err;
}

int weir_list_import(const struct weir_maps *m, enum weir_list l,
		     const struct weir_cidr *v, size_t n,
		     void (*progress)(size_t done, size_t total, void *ctx),
		     void *ctx)
{
	struct list_part p[N_PARTS];
	char *keys[N_PARTS] = {};
	size_t cnt[N_PARTS] = {}, added[N_PARTS] = {}, done = 0;
	int err = -ENOMEM, i;

	weir__list_parts(m, l, p);
	for (i = 0; i < N_PARTS; i++)
		if (!(keys[i] = malloc((n ? n : 1) * p[i].ksz)))
			goto out;
	for (size_t k = 0; k < n; k++) {
		int pi = weir__part_of(&v[k]);

		weir__part_key(&p[pi], &v[k], keys[pi] + cnt[pi]++ * p[pi].ksz);
	}
	weir__maps_lock(m, LOCK_EX);
	for (i = 0, err = 0; i < N_PARTS && !err; i++)
		if (!p[i].host)
			err = weir__summary_add(&p[i], keys[i], cnt[i]);
	for (i = 0; i < N_PARTS && !err; i++)
		err = p[i].host ? import_table(m, &p[i], keys[i], cnt[i], &added[i],
					       &done, n, progress, ctx)
				: import_part(&p[i], keys[i], cnt[i], &added[i], &done,
					      n, progress, ctx);
	if (err) { /* the failed part undid itself; undo the ones before it */
		for (int j = 0; j < i - 1; j++)
			for (size_t k = 0; k < added[j]; k++)
				weir__part_del(m, &p[j], keys[j] + k * p[j].ksz);
		for (int j = 0; j < N_PARTS; j++)
			if (!p[j].host)
				weir__summary_rebuild(&p[j]);
	} else {
		err = weir__list_bits_sync(m, l);
	}
	weir__maps_lock(m, LOCK_UN);
out:
	for (i = 0; i < N_PARTS; i++)
		free(keys[i]);
	return err;
}

