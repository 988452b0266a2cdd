#ifndef BATON_CNATS_SHIM_H
#define BATON_CNATS_SHIM_H
#include <nats/nats.h>
#endif
