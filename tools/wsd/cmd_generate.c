#include "commands.h"

#include <stdio.h>

int cmd_generate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wsd generate: not implemented yet\n");
    return 1;
}
