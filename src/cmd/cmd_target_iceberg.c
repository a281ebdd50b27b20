/*
 * cmd_target_iceberg: placeholder until its issue lands; the owner replaces this file.
 */
#include "cmd/cmd.h"

int cmd_target_iceberg(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cmd_fail("'target_iceberg' is not built yet");
}
