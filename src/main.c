/*
 * main: subcommand dispatch. Each subcommand lives in src/cmd/ and returns
 * the process exit status (0 ok, 1 failure, 2 usage).
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    return cmd_dispatch(argc, argv);
}
