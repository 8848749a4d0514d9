/* lines.c - see lines.h. */
#include <stdio.h>

#include "helpers/lines.h"

int count_lines(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    int n = 0, c;
    while ((c = fgetc(fp)) != EOF)
        n += c == '\n';
    fclose(fp);
    return n;
}

void append_line(const char *path, const char *text)
{
    FILE *fp = fopen(path, "a");
    if (fp) {
        fprintf(fp, "%s\n", text);
        fclose(fp);
    }
}
