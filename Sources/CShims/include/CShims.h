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

// MARK: libcurl
// curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are variadic, so Swift cannot call them.
// One shim per argument type. Handles are `void *` (CURL is `void`, CURLM is passed as `void *`) and
// options/codes are plain ints so this header does not have to include <curl/curl.h> (which would
// define every curl type a second time, in this module, next to CCurl's).

/// Body/header data callback with the signature of CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION.
typedef size_t (*CCurl_data_callback)(char *data, size_t size, size_t count, void *context);

/// curl_easy_setopt with a `long` argument (CURLOPT_TIMEOUT_MS, CURLOPT_NOSIGNAL, ...). Returns a CURLcode.
int CCurl_easy_setopt_long(void *handle, int option, long value);
/// curl_easy_setopt with a pointer argument (strings, curl_slist, callback context). Returns a CURLcode.
int CCurl_easy_setopt_pointer(void *handle, int option, const void *value);
/// curl_easy_setopt with a `curl_off_t` argument (CURLOPT_POSTFIELDSIZE_LARGE, ...). Returns a CURLcode.
int CCurl_easy_setopt_off_t(void *handle, int option, int64_t value);
/// curl_easy_setopt with a data callback (CURLOPT_WRITEFUNCTION, CURLOPT_HEADERFUNCTION). Returns a CURLcode.
int CCurl_easy_setopt_callback(void *handle, int option, CCurl_data_callback callback);
/// curl_easy_getinfo for a `long` result (CURLINFO_RESPONSE_CODE). Returns a CURLcode.
int CCurl_easy_getinfo_long(void *handle, int info, long *value);
/// curl_multi_setopt with a `long` argument (CURLMOPT_MAX_TOTAL_CONNECTIONS). Returns a CURLMcode.
int CCurl_multi_setopt_long(void *multi, int option, long value);

// MARK: libmicrohttpd
// MHD_start_daemon, MHD_get_daemon_info and MHD_get_connection_info are variadic. The callback types
// repeat MHD's with `int` for its enums (same ABI) and a forward-declared connection so that this header
// does not include <microhttpd.h>.

struct MHD_Connection;
struct MHD_Daemon;

/// MHD_AccessHandlerCallback; returns MHD_YES (1) or MHD_NO (0).
typedef int (*CMicroHTTPD_access_handler)(void *context, struct MHD_Connection *connection,
                                          const char *url, const char *method, const char *version,
                                          const char *upload_data, size_t *upload_data_size,
                                          void **request_context);
/// MHD_OPTION_NOTIFY_COMPLETED callback; `termination_code` is an MHD_RequestTerminationCode.
typedef void (*CMicroHTTPD_completed_callback)(void *context, struct MHD_Connection *connection,
                                               void **request_context, int termination_code);
/// MHD_OPTION_URI_LOG_CALLBACK callback: sees the raw request URI; its result becomes `*request_context`.
typedef void *(*CMicroHTTPD_uri_log_callback)(void *context, const char *uri, struct MHD_Connection *connection);

/// MHD_start_daemon with previewd's fixed option list: bind address (IPv4 or IPv6 literal; NULL or
/// "0.0.0.0" = any IPv4 address, "::" = dual stack), port (0 = any free port), access handler, URI log and
/// completion callbacks sharing one context, then the thread pool, connection limit, connection timeout
/// (seconds) and per-IP limit (0 = none). Flags are MHD_FLAG values to add to the internal polling thread.
/// Returns NULL when the address does not parse or MHD cannot start.
struct MHD_Daemon *CMicroHTTPD_start_daemon(unsigned int flags, const char *bind_address, uint16_t port,
                                            CMicroHTTPD_access_handler handler,
                                            CMicroHTTPD_uri_log_callback uri_log,
                                            CMicroHTTPD_completed_callback completed, void *context,
                                            unsigned int thread_pool_size, unsigned int connection_limit,
                                            unsigned int connection_timeout_seconds,
                                            unsigned int per_ip_connection_limit);

/// MHD_get_daemon_info(MHD_DAEMON_INFO_BIND_PORT): the port actually bound, 0 when unknown.
uint16_t CMicroHTTPD_get_daemon_info_bind_port(struct MHD_Daemon *daemon);

/// MHD_get_connection_info(MHD_CONNECTION_INFO_CLIENT_ADDRESS) formatted with inet_ntop into `buffer`.
/// Returns 1 on success, 0 when the address is unknown or not IPv4/IPv6.
int CMicroHTTPD_get_connection_info_client_address(struct MHD_Connection *connection, char *buffer,
                                                   size_t buffer_size);

#endif
