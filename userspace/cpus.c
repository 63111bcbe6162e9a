/* userspace/cpus.c - CPU affinity (see cpus.h). */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cpus.h"

static struct {
	bool on;			/* a cpus: section was read at start */
	cpu_set_t all;			/* what the process could run on then */
	cpu_set_t control;		/* the control set, or `all` */
	uint16_t *workers, *control_list;	/* as configured, for weir_cpus_changed */
	size_t n_workers, n_control;
} C;

/* s as "0-3,6", at most n bytes. */
static void set_text(const cpu_set_t *s, char *b, size_t n)
{
	size_t used = 0;

	b[0] = 0;
	for (int i = 0; i < CPU_SETSIZE && used < n; i++) {
		if (!CPU_ISSET(i, s))
			continue;
		int j = i;
		while (j + 1 < CPU_SETSIZE && CPU_ISSET(j + 1, s))
			j++;
		used += (size_t)snprintf(b + used, n - used, j > i ? "%s%d-%d" : "%s%d",
					 used ? "," : "", i, j);
		i = j;
	}
}

/* Each CPU of list must be one the process may run on. */
static int check_list(const char *name, const uint16_t *list, size_t n, char *err, size_t errlen)
{
	char avail[128];

	for (size_t i = 0; i < n; i++)
		if (!CPU_ISSET(list[i], &C.all)) {
			set_text(&C.all, avail, sizeof(avail));
			snprintf(err, errlen, "cpus.%s[%zu]: CPU %u is not one weir may run on "
				 "(these are: %s)", name, i, list[i], avail);
			return -1;
		}
	return 0;
}

static uint16_t *copy_list(const uint16_t *list, size_t n)
{
	uint16_t *c = n ? malloc(n * sizeof(*c)) : NULL;

	if (c)
		memcpy(c, list, n * sizeof(*c));
	return c;
}

int weir_cpus_check(const struct weir_config *c, char *err, size_t errlen)
{
	if (!C.on && sched_getaffinity(0, sizeof(C.all), &C.all) < 0) {
		snprintf(err, errlen, "cpus: cannot read the CPUs weir may run on: %m");
		return -1;
	}
	return check_list("workers", c->cpus_workers, c->n_cpus_workers, err, errlen) < 0 ||
	       check_list("control", c->cpus_control, c->n_cpus_control, err, errlen) < 0 ? -1 : 0;
}

int weir_cpus_start(const struct weir_config *c, char *err, size_t errlen)
{
	if (!c->n_cpus_workers && !c->n_cpus_control)
		return 0;
	if (weir_cpus_check(c, err, errlen) < 0)
		return -1;
	C.control = C.all;
	if (c->n_cpus_control) {
		CPU_ZERO(&C.control);
		for (size_t i = 0; i < c->n_cpus_control; i++)
			CPU_SET(c->cpus_control[i], &C.control);
		if (sched_setaffinity(0, sizeof(C.control), &C.control) < 0) {
			snprintf(err, errlen, "cpus.control: %m");
			return -1;
		}
	}
	C.workers = copy_list(c->cpus_workers, c->n_cpus_workers);
	C.control_list = copy_list(c->cpus_control, c->n_cpus_control);
	if ((c->n_cpus_workers && !C.workers) || (c->n_cpus_control && !C.control_list)) {
		snprintf(err, errlen, "cpus: out of memory");
		return -1;
	}
	C.n_workers = c->n_cpus_workers;
	C.n_control = c->n_cpus_control;
	C.on = true;
	return 0;
}

int weir_cpus_worker_attr(uint32_t i, pthread_attr_t *attr)
{
	cpu_set_t s;

	if (!C.on)
		return 0;
	if (C.n_workers) {
		CPU_ZERO(&s);
		CPU_SET(C.workers[i % C.n_workers], &s);
	} else {
		s = C.all;	/* not the control set the main thread is on */
	}
	return pthread_attr_setaffinity_np(attr, sizeof(s), &s);
}

int weir_cpus_control_attr(pthread_attr_t *attr)
{
	return C.on ? pthread_attr_setaffinity_np(attr, sizeof(C.control), &C.control) : 0;
}

static bool same(const uint16_t *a, size_t na, const uint16_t *b, size_t nb)
{
	return na == nb && (!na || !memcmp(a, b, na * sizeof(*a)));
}

bool weir_cpus_changed(const struct weir_config *c)
{
	return !same(c->cpus_workers, c->n_cpus_workers, C.workers, C.n_workers) ||
	       !same(c->cpus_control, c->n_cpus_control, C.control_list, C.n_control);
}
