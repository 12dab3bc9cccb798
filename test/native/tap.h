/*
 * The TAP output of the C test programs in test/native/: check() prints one
 * "ok N - what" or "not ok N - what" line; tap_done() prints the plan and
 * returns the exit status (1 if any check failed).
 */
#ifndef SCROOGE_TAP_H
#define SCROOGE_TAP_H

#include <stdio.h>

static int n_test = 0, n_fail = 0;

static void check(int ok, const char *what) {
  n_test++;
  if (!ok) n_fail++;
  printf("%s %d - %s\n", ok ? "ok" : "not ok", n_test, what);
}

static int tap_done(void) {
  printf("1..%d\n", n_test);
  return n_fail ? 1 : 0;
}

#endif
