/*
 * cmd_config: placeholder until its issue lands; the owner replaces this file.
 */
#include "cmd/cmd.h"

int cmd_config(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cmd_fail("'config' is not built yet");
}
