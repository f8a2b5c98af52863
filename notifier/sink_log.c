/* sink_log: the always-on sink, one structured line per notification. */
#include <stdio.h>

#include "log.h"
#include "sink.h"

/* The message text comes from Kafka: keep it inside its quotes. */
static void sink_log_clean(const char *in, char *out, size_t outlen)
{
    size_t o = 0;

    for (; *in != '\0' && o + 1 < outlen; in++) {
        unsigned char c = (unsigned char)*in;
        out[o++] = c == '"' ? '\'' : c == '\\' || c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[o] = '\0';
}

static enum sink_result sink_log_deliver(struct sink *s, const struct sink_request *rq, char *err,
                                         size_t errlen)
{
    const struct alert_msg *a = rq->alert;
    char text[MSG_TEXT_MAX], note[MSG_NOTE_MAX];

    (void)s;
    (void)err;
    (void)errlen;
    sink_log_clean(a->message, text, sizeof(text));
    sink_log_clean(a->note, note, sizeof(note));
    log_info("notification",
             "sink=log alert_id=%s user=%s ticker=%s type=%s threshold=%.6g price=%.6g "
             "message=\"%s\"%s%s%s%s%.0ld%s",
             a->alert_id, a->user_id, a->ticker, alert_type_name(a->type), a->threshold, a->price,
             text, note[0] != '\0' ? " note=\"" : "", note, note[0] != '\0' ? "\"" : "",
             a->firing > 0 ? " firing=" : "", a->firing,
             rq->possible_duplicate ? " possible_duplicate=1" : "");
    return SINK_OK;
}

static void sink_log_close(struct sink *s)
{
    (void)s;
}

void sink_log_init(struct sink *s)
{
    s->name = "log";
    s->max_inflight = 0;
    s->state = NULL;
    s->deliver = sink_log_deliver;
    s->poll = NULL;
    s->close = sink_log_close;
}
