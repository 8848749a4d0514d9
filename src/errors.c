/*
 * errors.c - names of the result codes declared in tickflow.h.
 */
#include "tickflow.h"

const char *tf_strerror(int rc)
{
    switch (rc) {
    case TF_OK: return "ok";
    case TF_EINPUT: return "bad input";
    case TF_EDB: return "database error";
    case TF_EBUSY: return "database busy";
    case TF_ENOMEM: return "out of memory";
    case TF_EIO: return "i/o error";
    case TF_ESCHEMA: return "database written by a newer tickflow";
    case TF_ENOTFOUND: return "not found";
    case TF_EAMBIGUOUS: return "ambiguous key prefix";
    case TF_ESTATE: return "call not in a state that allows this";
    case TF_ESTOPPED: return "stopped";
    default: return "unknown error";
    }
}
