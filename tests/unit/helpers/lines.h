/*
 * lines.h - small file helpers the unit tests share (tests/unit/helpers/,
 * linked into every test binary): works run in child processes and count
 * their executions by appending a line to a file.
 */
#ifndef TF_TEST_LINES_H
#define TF_TEST_LINES_H

/* Lines in the file at path (0 when it does not exist). */
int count_lines(const char *path);

/* Append text and a newline to the file at path (created if absent); errors are ignored. */
void append_line(const char *path, const char *text);

#endif
