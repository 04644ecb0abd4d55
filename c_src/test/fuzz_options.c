/* libFuzzer harness for the command-line parser (options.c). The Erlang
 * side builds argv from user options, so a bad value must come back as
 * {badarg, Msg}, never as a crash or a half-valid struct.
 *
 * The input is split at NUL bytes into argv[1..]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define MAX_ARGS 64

/* A string field must be NULL or point at one of the argv strings. */
static int from_argv(const char *s, char **argv, int argc)
{
    if (s == NULL)
        return 1;
    for (int i = 1; i < argc; i++)
        if (s == argv[i])
            return 1;
    return 0;
}

static void check_ok(const struct options *o, char **argv, int argc)
{
    if (o->snaplen < 1 || o->snaplen > EPCAP_SNAPLEN_MAX ||
        o->buffer_size < 0 || o->timeout_ms < 0 || o->verbose < 0)
        __builtin_trap();
    if (o->timeout_mode != TIMEOUT_IMMEDIATE && o->timeout_mode != TIMEOUT_MS &&
        o->timeout_mode != TIMEOUT_INFINITY)
        __builtin_trap();
    if (o->file != NULL && o->interface != NULL)
        __builtin_trap();
    if (!from_argv(o->interface, argv, argc) ||
        !from_argv(o->filter, argv, argc) || !from_argv(o->file, argv, argc) ||
        !from_argv(o->user, argv, argc) || !from_argv(o->group, argv, argc) ||
        !from_argv(o->chroot_dir, argv, argc))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *argv[MAX_ARGS + 1];
    int argc = 0;
    struct options o;
    struct ep_error e = {0};

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    argv[argc++] = "epcap";
    for (char *p = buf; p < buf + size && argc < MAX_ARGS; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;
    if (options_parse(argc, argv, &o, &e) == 0)
        check_ok(&o, argv, argc);
    else if (e.reason == NULL || strcmp(e.reason, "badarg") != 0 ||
             memchr(e.msg, '\0', sizeof(e.msg)) == NULL)
        __builtin_trap();
    free(buf);
    return 0;
}
