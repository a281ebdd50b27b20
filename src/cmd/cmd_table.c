/*
 * cmd_table: placeholder until its issue lands; the owner replaces this file.
 */
#include "cmd/cmd.h"

int cmd_table(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cmd_fail("'table' is not built yet");
}
