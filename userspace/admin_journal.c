/* userspace/admin_journal.c - the admin API's journal: changes appended to
 * a file beside the state file, one JSON line each, so that a change is
 * durable in time that does not grow with the resources.
 *
 * The state file (admin.c) holds every resource as of a sequence number,
 * its "_seq" member; the journal ("STATE.journal") holds the changes made
 * since, each as {"seq": N, "kind": K, "id": ID, "value": V}, V null for a
 * removal, appended and synced (fdatasync) before the API answers. At start
 * the records above the state's sequence are replayed in order over it. A
 * crash can leave a record half written at the end: it was never
 * acknowledged, and replay cuts it off; anything else that does not parse
 * is an error, never skipped. Compaction writes the whole state file again
 * (with the last sequence number) and then empties the journal: a crash
 * between the two leaves records the state file already has, which replay
 * skips by their numbers.
 *
 * The file is made longer ahead of the records, in zeroed chunks, as
 * databases prepare their logs: a record is then written over blocks the
 * file already has, and its fdatasync writes that data and flushes, where
 * a record that grew the file would also have to write the inode for the
 * new size, a second write to wait for at every change. The records end at
 * the first zero byte. A record cut short by a crash ends in zeros, or has
 * zeros in it where its blocks did not all reach the disk; one with a zero
 * byte, or with no newline, is the half-written last record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "admin-int.h"

#define JOURNAL_CHUNK (256 * 1024)	/* the file grows by this much at a time */

int weir__journal_open(struct weir_journal *j, const char *state, bool replay, json_t *doc,
		       weir_journal_apply_fn *apply, char *err, size_t errlen)
{
	char *text = NULL, *p, *end;
	struct stat st;
	size_t line = 0, good = 0;
	int e;

	j->fd = -1;
	j->records = 0;
	if (asprintf(&j->path, "%s.journal", state) < 0) {
		j->path = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	j->end = j->size = 0;
	j->fd = open(j->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->fd < 0 || fstat(j->fd, &st) < 0)
		goto fail_errno;
	if (!replay) {
		/* no state file: the journal of one that was removed is void */
		if (st.st_size && (ftruncate(j->fd, 0) < 0 || fdatasync(j->fd) < 0))
			goto fail_errno;
		return 0;
	}
	if (!(text = malloc((size_t)st.st_size + 1))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t off = 0; off < (size_t)st.st_size;) {
		ssize_t n = pread(j->fd, text + off, (size_t)st.st_size - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = EIO;
			goto fail_errno;
		}
		off += (size_t)n;
	}
	text[st.st_size] = 0;
	for (p = text; p < text + st.st_size; p = end + 1) {
		json_error_t je;
		json_t *r;
		json_int_t seq;
		const char *kind, *id;
		json_t *value;

		line++;
		if (!*p)
			break;	/* the zeros after the last record */
		end = memchr(p, '\n', (size_t)(text + st.st_size - p));
		if (!end || memchr(p, 0, (size_t)(end - p)))
			break;	/* the last record, half written: never acknowledged */
		r = json_loadb(p, (size_t)(end - p), JSON_REJECT_DUPLICATES, &je);
		if (!r || json_unpack(r, "{s:I, s:s, s:s, s:o}", "seq", &seq, "kind", &kind, "id",
				      &id, "value", &value)) {
			snprintf(err, errlen, "state journal %s:%zu: %s", j->path, line,
				 r ? "expected {seq, kind, id, value}" : je.text);
			json_decref(r);
			goto fail;
		}
		if ((uint64_t)seq > j->seq) {
			char why[256];
			if (apply(doc, kind, id, json_is_null(value) ? NULL : value, why,
				  sizeof(why)) < 0) {
				snprintf(err, errlen, "state journal %s:%zu: %s", j->path, line, why);
				json_decref(r);
				goto fail;
			}
			j->seq = (uint64_t)seq;
			j->records++;
		}
		json_decref(r);
		good = (size_t)(end + 1 - text);
	}
	j->end = j->size = (off_t)good;
	size_t tail = good;
	while (tail < (size_t)st.st_size && !text[tail])
		tail++;
	if (tail == (size_t)st.st_size) {
		j->size = st.st_size;	/* zeros to the end: room kept */
	} else {
		fprintf(stderr, "weir: admin: %s: cutting off a half-written last record\n",
			j->path);
		if (ftruncate(j->fd, (off_t)good) < 0 || fdatasync(j->fd) < 0)
			goto fail_errno;
	}
	free(text);
	return 0;
fail_errno:
	e = errno;
	snprintf(err, errlen, "state journal %s: %s", j->path, strerror(e));
fail:
	free(text);
	weir__journal_close(j);
	return -1;
}

/* Writes n zero bytes at off; returns how many were written before an
 * error (a full disk). */
static size_t write_zeros(int fd, off_t off, size_t n)
{
	static const char zeros[65536];
	size_t done = 0;

	while (done < n) {
		ssize_t k = pwrite(fd, zeros, n - done < sizeof(zeros) ? n - done : sizeof(zeros),
				   off + (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		done += (size_t)k;
	}
	return done;
}

/* Makes the file a chunk longer than `need`, with zeros, as far as the file
 * system has room: short of it (a full disk), the record grows the file
 * itself, or fails. */
static void grow(struct weir_journal *j, off_t need)
{
	off_t to = (need + JOURNAL_CHUNK - 1) / JOURNAL_CHUNK * JOURNAL_CHUNK;

	j->size += (off_t)write_zeros(j->fd, j->size, (size_t)(to - j->size));
}

int weir__journal_append(struct weir_journal *j, const char *kind, const char *id,
			 const json_t *value, char *err, size_t errlen)
{
	json_t *r = json_pack("{s:I, s:s, s:s, s:O?}", "seq", (json_int_t)(j->seq + 1), "kind",
			      kind, "id", id, "value", (json_t *)value);
	char *text = r ? json_dumps(r, JSON_COMPACT) : NULL;
	size_t len, off = 0;
	int e;

	json_decref(r);
	if (!text) {
		snprintf(err, errlen, "%s: out of memory", j->path);
		return -1;
	}
	len = strlen(text);
	text[len++] = '\n';	/* over the NUL: the length is known */
	if (j->end + (off_t)len > j->size)
		grow(j, j->end + (off_t)len);
	while (off < len) {
		ssize_t n = pwrite(j->fd, text + off, len - off, j->end + (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = EIO;
			goto undo;
		}
		off += (size_t)n;
	}
	if (fdatasync(j->fd) < 0)
		goto undo;
	free(text);
	j->end += (off_t)len;
	if (j->size < j->end)
		j->size = j->end;
	j->seq++;
	j->records++;
	return 0;
undo:
	e = errno;
	/* what was written of it must not be replayed: cut it off, or, if the
	 * file cannot be cut, zero it */
	if (ftruncate(j->fd, j->end) == 0) {
		j->size = j->end;
	} else {
		/* over the bytes written: the blocks are the file's already */
		write_zeros(j->fd, j->end, off);
		if (j->size < j->end + (off_t)off)
			j->size = j->end + (off_t)off;
	}
	fdatasync(j->fd);
	free(text);
	snprintf(err, errlen, "%s: %s", j->path, strerror(e));
	return -1;
}

int weir__journal_reset(struct weir_journal *j, char *err, size_t errlen)
{
	if (ftruncate(j->fd, 0) < 0) {
		snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
		return -1;
	}
	/* empty from here on, synced or not: the next record goes at 0 */
	j->end = j->size = 0;
	j->records = 0;
	if (fdatasync(j->fd) < 0) {
		snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
		return -1;
	}
	return 0;
}

void weir__journal_close(struct weir_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	free(j->path);
	j->path = NULL;
}
