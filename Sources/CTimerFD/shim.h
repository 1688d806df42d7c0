// timerfd(2) from the C library: the Glibc module of Swift does not export <sys/timerfd.h>.
// Imported only by RulesEngine (ClockChangeMonitor), which notices wall-clock changes with it.
#ifndef CTIMERFD_SHIM_H
#define CTIMERFD_SHIM_H
#include <sys/timerfd.h>

static const int ctimerfd_cloexec = TFD_CLOEXEC;
static const int ctimerfd_absolute = TFD_TIMER_ABSTIME;
static const int ctimerfd_cancel_on_set = TFD_TIMER_CANCEL_ON_SET;
#endif
