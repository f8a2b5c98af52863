/* dispatch_priv: the dispatcher's insides, shared by the three files that
 * make it up and by nothing else (dispatch.h is the notifier's interface):
 *   dispatch.c          the jobs and their state machine (claim, deliver,
 *                       confirm), the main loop's turn, start and close;
 *   dispatch_consume.c  the consume loop: Kafka messages in as jobs, flow
 *                       control, offsets stored once a message is handled;
 *   dispatch_dlq.c      dead letters: the DLQ record, its write and delivery
 *                       report, the claim released after it.
 * Everything runs on the main thread (sinks and the DLQ producer report from
 * inside dispatch_step's polls). The dispatcher owns every job; a job is
 * freed only by the pass over the list (dispatch.c), never in a callback. */
#ifndef NOTIFIER_DISPATCH_PRIV_H
#define NOTIFIER_DISPATCH_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"
#include "kafka.h"
#include "message.h"
#include "sink.h"
#include "stats.h"
#include "tracker.h"

#define DISPATCH_KEY_MAX 256
#define DISPATCH_FAR (INT64_MAX / 4)

enum job_state {
    JOB_CLAIM = 0, /* decoded; needs the de-duplication claim */
    JOB_DELIVER,   /* claimed; sinks delivering or waiting for a retry */
    JOB_CONFIRM,   /* every sink delivered; record it in Redis */
    JOB_DLQ,       /* write to the dead-letter topic */
    JOB_DLQ_WAIT,  /* waiting for the DLQ delivery report */
    JOB_RELEASE,   /* dead-lettered: drop our claim */
    JOB_FINISHED,  /* handled; reaped on the next pass */
};

enum sink_status { SS_IDLE = 0, SS_INFLIGHT, SS_OK, SS_FAILED };

struct job_sink {
    enum sink_status st;
    int attempts;
    int64_t next_ms;
};

struct job {
    struct job *prev, *next;
    enum job_state state;
    int64_t next_ms; /* when the job next needs a look */
    int32_t partition;
    int64_t offset;
    char key[DISPATCH_KEY_MAX];
    size_t keylen;
    char *raw; /* the payload (capped copy when malformed) */
    size_t rawlen;
    size_t fulllen; /* the payload's size on the topic */
    int malformed;
    int possible_duplicate;
    struct alert_msg alert;
    /* What its deliveries are de-duplicated by (alert_msg_delivery_key): the
     * alert_id, or the alert_id and firing of a repeating alert's firing. */
    char dkey[MSG_DELIVERY_KEY_MAX];
    struct job_sink sink[SINK_MAX];
    int failed_sink; /* -1, or the sink whose failure sends it to the DLQ */
    char error[SINK_ERR_MAX];
};

struct dispatcher {
    const struct notifier_config *cfg;
    struct dedup *dd;
    struct notifier_stats *stats;
    struct sink sinks[SINK_MAX];
    int inflight[SINK_MAX];
    int nsinks;
    struct kafka_opts popts; /* must outlive the producer (dr opaque) */
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    struct tracker *tracker;
    struct job *head, *tail;
    long njobs;
    int paused;
    int draining;
    int closing; /* jobs are being freed: ignore late delivery reports */
    int64_t redis_next_ms;
    int64_t heartbeat_ms; /* next liveness refresh */
    long redis_backoff_ms;
    rd_kafka_resp_err_t last_consume_err;
};

/* ---- dispatch.c: the job list ------------------------------------------- */

/* A new job at the tail of the list (arrival order). NULL on out of memory. */
struct job *dispatch_job_new(struct dispatcher *d);

/* Unlinks j and frees it with its payload. */
void dispatch_job_free(struct dispatcher *d, struct job *j);

/* ---- dispatch_consume.c: messages in, offsets out ----------------------- */

/* j's message is handled: its offset is stored once every earlier message
 * of its partition is, and j is reaped by the next pass. */
void dispatch_job_finish(struct dispatcher *d, struct job *j);

/* Pauses the assigned partitions while cfg->max_pending messages are
 * unhandled, resumes them at three quarters of it. */
void dispatch_flow_control(struct dispatcher *d);

/* Takes up to a batch of messages, waiting at most timeout_ms for the
 * first, each as a new job. Out of memory stops the daemon (the message's
 * offset is never stored, so it comes again after a restart). */
void dispatch_consume(struct dispatcher *d, int timeout_ms);

/* ---- dispatch_dlq.c: dead letters --------------------------------------- */

/* Writes j's dead letter (why, where from, the original capped) to
 * cfg->topic_dlq; j then waits in JOB_DLQ_WAIT for the delivery report, or
 * retries later when the write was refused. */
void dispatch_dlq_write(struct dispatcher *d, struct job *j, int64_t now);

/* The DLQ producer's delivery report (kafka_dr_fn; opaque: the dispatcher). */
void dispatch_dlq_on_report(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* Drops the de-duplication claim of a dead-lettered job and finishes it. */
void dispatch_dlq_release(struct dispatcher *d, struct job *j);

#endif
