/* A C host of libtenantsync_ffi, built with gcc against ffi/include/tenantsync.h by
 * ffi/tests/consumers.rs: the calls a host makes, checked one by one.
 *
 * Usage: consumer CONFIG_PATH (a job against the Graph emulator: the consumer syncs it)
 * Prints one line per step; exits 0 when every step did what the contract says, 1 otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenantsync.h"

static int failures = 0;

/* Prints the step and, on failure, the status, its message and the last error. */
static int expect(const char *step, tenantsync_status_t got, tenantsync_status_t want) {
    if (got == want) {
        printf("ok   %s\n", step);
        return 1;
    }
    char *message = NULL;
    tenantsync_last_error_message(&message);
    printf("FAIL %s: status %u (%s), wanted %u: %s\n", step, (unsigned)got,
           tenantsync_status_message(got), (unsigned)want, message ? message : "");
    tenantsync_string_free(message);
    failures++;
    return 0;
}

/* Checks that `json` contains `needle`, then frees it. */
static void contains(const char *step, char *json, const char *needle) {
    if (json != NULL && strstr(json, needle) != NULL) {
        printf("ok   %s\n", step);
    } else {
        printf("FAIL %s: %s does not contain %s\n", step, json ? json : "(null)", needle);
        failures++;
    }
    tenantsync_string_free(json);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: consumer CONFIG_PATH\n");
        return 2;
    }
    const char *config = argv[1];

    printf("version %s\n", tenantsync_version());

    /* Expressions need no job. */
    char *json = NULL;
    if (expect("expr eval", tenantsync_expr_eval("Join(\" \", [givenName], [surname])",
                                                 "{\"attributes\":{\"givenName\":\"Ada\",\"surname\":\"Lovelace\"}}",
                                                 &json),
               TENANTSYNC_STATUS_OK))
        contains("expr value", json, "\"value\":\"Ada Lovelace\"");

    /* A bad call: a status, the output untouched, a message. */
    json = NULL;
    expect("expr eval of a bad expression",
           tenantsync_expr_eval("Join(", NULL, &json), TENANTSYNC_STATUS_EXPRESSION);
    if (json != NULL) {
        printf("FAIL output written on failure\n");
        failures++;
    }
    char *message = NULL;
    if (expect("last error", tenantsync_last_error_message(&message), TENANTSYNC_STATUS_OK))
        contains("last error names the expression", message, "expression");
    expect("null argument", tenantsync_expr_eval(NULL, NULL, &json), TENANTSYNC_STATUS_NULL_ARGUMENT);

    /* The job. */
    if (expect("config validate", tenantsync_config_validate(config, &json), TENANTSYNC_STATUS_OK))
        contains("config is valid", json, "\"valid\":true");
    tenantsync_job_t *job = NULL;
    if (!expect("job open", tenantsync_job_open(config, &job), TENANTSYNC_STATUS_OK))
        return 1;
    /* A full sync: start, poll for progress until finished, take the result. While the run
     * holds the engine, the job answers BUSY. */
    tenantsync_run_t *run = NULL;
    if (expect("start sync", tenantsync_job_start_sync(job, "{\"full\":true}", &run), TENANTSYNC_STATUS_OK)) {
        expect("job busy during the run", tenantsync_job_runs(job, 10, &json), TENANTSYNC_STATUS_BUSY);
        int finished = 0, events = 0, polls = 0;
        while (!finished) {
            char *progress = NULL;
            if (!expect("poll", tenantsync_run_poll(run, 100, &progress), TENANTSYNC_STATUS_OK))
                break;
            finished = strstr(progress, "\"finished\":true") != NULL;
            for (const char *at = progress; (at = strstr(at, "\"event\":")) != NULL; at++)
                events++;
            polls++;
            tenantsync_string_free(progress);
        }
        printf("polled %d times, %d events\n", polls, events);
        if (events == 0) {
            printf("FAIL no progress events\n");
            failures++;
        }
        if (expect("run result", tenantsync_run_result(run, &json), TENANTSYNC_STATUS_OK))
            contains("the sync converged", json, "\"outcome\":\"converged\"");
        expect("run free", tenantsync_run_free(run), TENANTSYNC_STATUS_OK);
        expect("run free twice", tenantsync_run_free(run), TENANTSYNC_STATUS_INVALID_HANDLE);
    }
    if (expect("job runs", tenantsync_job_runs(job, 10, &json), TENANTSYNC_STATUS_OK))
        contains("the run is recorded", json, "\"outcome\":\"converged\"");
    if (expect("job logs", tenantsync_job_logs(job, "{\"limit\":5}", &json), TENANTSYNC_STATUS_OK))
        contains("the log has entries", json, "\"action\"");
    expect("job free", tenantsync_job_free(job), TENANTSYNC_STATUS_OK);
    expect("job free twice", tenantsync_job_free(job), TENANTSYNC_STATUS_INVALID_HANDLE);
    expect("job free NULL", tenantsync_job_free(NULL), TENANTSYNC_STATUS_OK);

    if (failures == 0)
        printf("all steps passed\n");
    else
        printf("%d steps failed\n", failures);
    return failures == 0 ? 0 : 1;
}
