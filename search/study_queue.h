/* The study folder as a trial queue for `proxyseg worker` processes (internal):
 * STUDY/queue/NNNN.json says trial NNNN is ready; a worker claims it with
 * trials/NNNN/claim.lock (a heartbeat lock), runs it, and leaves done.json. */
#ifndef PS_STUDY_QUEUE_H
#define PS_STUDY_QUEUE_H
#include "proxyseg/journal.h"

/* Driver: queue a prepared trial (its folder holds config.json and job.json). */
ps_status ps_queue_post(const char *study_dir, int number, double trial_timeout);
/* Driver: 1 when the trial ended (*wait_status, *timed_out from done.json; why:
 * the worker that ran it), 0 while it waits or runs, -1 when its worker was
 * lost (why says how; the claim and queue entry are removed so that a re-post
 * starts clean). */
int ps_queue_check(const char *study_dir, int number, double heartbeat_timeout, int *wait_status, bool *timed_out,
                   char *why, size_t why_n);
#endif
