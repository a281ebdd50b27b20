/*
 * cmd_runner: placeholder until its issue lands; the owner replaces this file.
 */
#include "cmd/cmd.h"

int cmd_runner(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cmd_fail("'runner' is not built yet");
}
