/*
 * cmd_migrate: placeholder until its issue lands; the owner replaces this file.
 */
#include "cmd/cmd.h"

int cmd_migrate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cmd_fail("'migrate' is not built yet");
}
