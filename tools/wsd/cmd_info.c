#include "commands.h"

#include <stdio.h>

int cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wsd info: not implemented yet\n");
    return 1;
}
