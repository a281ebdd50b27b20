/*
 * cmd_expr: placeholder until its issue lands; the owner replaces this file.
 */
#include "cmd/cmd.h"

int cmd_expr(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cmd_fail("'expr' is not built yet");
}
