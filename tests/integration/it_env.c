/* it_env: integration-test helpers. */
#include "it_env.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timeutil.h"

const char *it_kafka_bootstrap(void)
{
    const char *v = getenv("TEST_KAFKA_BOOTSTRAP");
    return v != NULL && *v != '\0' ? v : NULL;
}

void it_unique_name(char *out, size_t outlen, const char *prefix)
{
    snprintf(out, outlen, "%s-%d-%lld", prefix, (int)getpid(), (long long)time(NULL));
}

static int it_redis_answers(int port)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r;
    int ok = 0;

    if (c == NULL)
        return 0;
    if (!c->err) {
        r = redisCommand(c, "PING");
        ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r != NULL)
            freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}

pid_t it_redis_start(int port, const char *dir)
{
    char portstr[16];
    pid_t pid;

    mkdir(dir, 0700);
    snprintf(portstr, sizeof(portstr), "%d", port);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1",
               "--dir", dir, "--save", "", "--appendonly", "yes", "--loglevel", "warning",
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 50; i++) {
        if (it_redis_answers(port))
            return pid;
        time_sleep_ms(100);
    }
    it_process_kill(pid);
    return -1;
}

void it_process_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}
