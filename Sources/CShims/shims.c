#include "CShims.h"
#include <libpq-fe.h>
#include <postgres_ext.h>

const int CLibPQ_PG_DIAG_SQLSTATE = 'C';
const int CLibPQ_PG_DIAG_MESSAGE_PRIMARY = 'M';
const int CLibPQ_PG_DIAG_MESSAGE_DETAIL = 'D';
const int CLibPQ_PG_DIAG_CONSTRAINT_NAME = 'n';
