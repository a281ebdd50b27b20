/*
 * cmd_serve: placeholder until its issue lands; the owner replaces this file.
 */
#include "cmd/cmd.h"

int cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cmd_fail("'serve' is not built yet");
}
