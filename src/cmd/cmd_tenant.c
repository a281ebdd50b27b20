/*
 * cmd_tenant: placeholder until its issue lands; the owner replaces this file.
 */
#include "cmd/cmd.h"

int cmd_tenant(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cmd_fail("'tenant' is not built yet");
}
