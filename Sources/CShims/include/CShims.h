#ifndef PREVIEWD_CSHIMS_H
#define PREVIEWD_CSHIMS_H

// Only what Swift cannot call directly lives here: variadic C functions and character-literal
// macros. Each function is named <Module>_<original> and says why it exists.

#include <stdint.h>
#include <stddef.h>

// libpq: PG_DIAG_* are character-literal macros that Swift does not import.
/// PG_DIAG_SQLSTATE as an int, for PQresultErrorField.
extern const int CLibPQ_PG_DIAG_SQLSTATE;
/// PG_DIAG_MESSAGE_PRIMARY as an int.
extern const int CLibPQ_PG_DIAG_MESSAGE_PRIMARY;
/// PG_DIAG_MESSAGE_DETAIL as an int.
extern const int CLibPQ_PG_DIAG_MESSAGE_DETAIL;
/// PG_DIAG_CONSTRAINT_NAME as an int.
extern const int CLibPQ_PG_DIAG_CONSTRAINT_NAME;

// libcurl and libmicrohttpd shims are declared below (curl_easy_setopt, curl_easy_getinfo,
// MHD_start_daemon are variadic).

#endif
