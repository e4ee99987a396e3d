/* main.c - the poisonscan front end: one binary, a table of subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static const struct subcommand commands[] = {
    {"scan", ps_cmd_scan, "scan a corpus on this machine (private redis-server, local workers)"},
    {"coordinator", ps_cmd_coordinator, "plan and lead one distributed job"},
    {"worker", ps_cmd_worker, "scan shards for a coordinator"},
    {"status", ps_cmd_status, "show a job's progress from Redis"},
    {"keygen", ps_cmd_keygen, "make a CURVE key pair for a coordinator or a worker"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: poisonscan COMMAND [options] (COMMAND --help for its options)\n\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nexit codes: 0 clean, 1 poisoning flagged, 2 input errors, 3 usage or "
                 "configuration, 4 infrastructure (see docs/cli.md)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return PS_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("poisonscan 0.1.0\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "poisonscan: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return PS_EXIT_USAGE;
}
