/* A C host of libtenantsync_ffi, built with gcc against ffi/include/tenantsync.h by
 * ffi/tests/consumers.rs: the calls a host makes, checked one by one.
 *
 * Usage: consumer CONFIG_PATH PLAN_PATH (a job against the Graph emulator: the consumer plans
 * it, saving the plan to PLAN_PATH, applies that plan, then syncs it)
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

/* Polls `run` until it finishes, checks that its result contains `needle`, and frees it.
 * Returns how many progress events it saw. */
static int finish_run(const char *what, tenantsync_run_t *run, const char *needle) {
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
    printf("%s: polled %d times, %d events\n", what, polls, events);
    char *json = NULL;
    if (expect(what, tenantsync_run_result(run, &json), TENANTSYNC_STATUS_OK))
        contains(needle, json, needle);
    expect("run free", tenantsync_run_free(run), TENANTSYNC_STATUS_OK);
    expect("run free twice", tenantsync_run_free(run), TENANTSYNC_STATUS_INVALID_HANDLE);
    return events;
}

/* The whole of a file as a NUL-terminated string (malloc'd), or NULL. */
static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (text != NULL && fread(text, 1, (size_t)size, f) == (size_t)size) {
        text[size] = '\0';
    } else {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: consumer CONFIG_PATH PLAN_PATH\n");
        return 2;
    }
    const char *config = argv[1];
    const char *plan_path = argv[2];

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
    /* A plan saved to a file, reviewed, then applied exactly. */
    char request[4096];
    snprintf(request, sizeof request, "{\"savePlan\":\"%s\"}", plan_path);
    tenantsync_run_t *run = NULL;
    if (expect("start plan", tenantsync_job_start_plan(job, request, &run), TENANTSYNC_STATUS_OK))
        finish_run("plan result", run, "\"outcome\":\"dryRun\"");
    char *plan = read_file(plan_path);
    if (plan == NULL) {
        printf("FAIL the plan was not saved to %s\n", plan_path);
        failures++;
    } else {
        run = NULL;
        if (expect("start apply", tenantsync_job_start_apply(job, plan, &run), TENANTSYNC_STATUS_OK))
            finish_run("apply result", run, "\"outcome\":\"converged\"");
        free(plan);
    }

    /* A full sync: start, poll for progress until finished, take the result. While the run
     * holds the engine, the job answers BUSY. */
    run = NULL;
    if (expect("start sync", tenantsync_job_start_sync(job, "{\"full\":true}", &run), TENANTSYNC_STATUS_OK)) {
        expect("job busy during the run", tenantsync_job_runs(job, 10, &json), TENANTSYNC_STATUS_BUSY);
        if (finish_run("sync result", run, "\"outcome\":\"converged\"") == 0) {
            printf("FAIL no progress events\n");
            failures++;
        }
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
