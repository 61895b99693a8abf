#include "CShims.h"
#include <libpq-fe.h>
#include <postgres_ext.h>

const int CLibPQ_PG_DIAG_SQLSTATE = 'C';
const int CLibPQ_PG_DIAG_MESSAGE_PRIMARY = 'M';
const int CLibPQ_PG_DIAG_MESSAGE_DETAIL = 'D';
const int CLibPQ_PG_DIAG_CONSTRAINT_NAME = 'n';

// MARK: libcurl (variadic curl_easy_setopt / curl_easy_getinfo / curl_multi_setopt)

#include <curl/curl.h>

int CCurl_easy_setopt_long(void *handle, int option, long value) {
    return (int)curl_easy_setopt((CURL *)handle, (CURLoption)option, value);
}

int CCurl_easy_setopt_pointer(void *handle, int option, const void *value) {
    return (int)curl_easy_setopt((CURL *)handle, (CURLoption)option, value);
}

int CCurl_easy_setopt_off_t(void *handle, int option, int64_t value) {
    return (int)curl_easy_setopt((CURL *)handle, (CURLoption)option, (curl_off_t)value);
}

int CCurl_easy_setopt_callback(void *handle, int option, CCurl_data_callback callback) {
    return (int)curl_easy_setopt((CURL *)handle, (CURLoption)option, (curl_write_callback)callback);
}

int CCurl_easy_getinfo_long(void *handle, int info, long *value) {
    return (int)curl_easy_getinfo((CURL *)handle, (CURLINFO)info, value);
}

int CCurl_multi_setopt_long(void *multi, int option, long value) {
    return (int)curl_multi_setopt((CURLM *)multi, (CURLMoption)option, value);
}

// MARK: libmicrohttpd (variadic MHD_start_daemon / MHD_get_*_info)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>

struct MHD_Daemon *CMicroHTTPD_start_daemon(unsigned int flags, const char *bind_address, uint16_t port,
                                            CMicroHTTPD_access_handler handler,
                                            CMicroHTTPD_uri_log_callback uri_log,
                                            CMicroHTTPD_completed_callback completed, void *context,
                                            unsigned int thread_pool_size, unsigned int connection_limit,
                                            unsigned int connection_timeout_seconds,
                                            unsigned int per_ip_connection_limit) {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    const struct sockaddr *address;
    memset(&v4, 0, sizeof v4);
    memset(&v6, 0, sizeof v6);
    if (bind_address == NULL || bind_address[0] == '\0') bind_address = "0.0.0.0";
    if (inet_pton(AF_INET, bind_address, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        address = (const struct sockaddr *)&v4;
    } else if (inet_pton(AF_INET6, bind_address, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        address = (const struct sockaddr *)&v6;
        flags |= (strcmp(bind_address, "::") == 0) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    } else {
        return NULL;
    }
    return MHD_start_daemon(flags, port, NULL, NULL, (MHD_AccessHandlerCallback)handler, context,
                            MHD_OPTION_SOCK_ADDR, address,
                            MHD_OPTION_URI_LOG_CALLBACK, uri_log, context,
                            MHD_OPTION_NOTIFY_COMPLETED, (MHD_RequestCompletedCallback)completed, context,
                            MHD_OPTION_THREAD_POOL_SIZE, thread_pool_size,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, connection_timeout_seconds,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip_connection_limit,
                            MHD_OPTION_END);
}

uint16_t CMicroHTTPD_get_daemon_info_bind_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}

int CMicroHTTPD_get_connection_info_client_address(struct MHD_Connection *connection, char *buffer,
                                                   size_t buffer_size) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info == NULL || info->client_addr == NULL || buffer_size == 0) return 0;
    const struct sockaddr *address = info->client_addr;
    const void *raw;
    if (address->sa_family == AF_INET) {
        raw = &((const struct sockaddr_in *)address)->sin_addr;
    } else if (address->sa_family == AF_INET6) {
        raw = &((const struct sockaddr_in6 *)address)->sin6_addr;
    } else {
        return 0;
    }
    return inet_ntop(address->sa_family, raw, buffer, (socklen_t)buffer_size) != NULL ? 1 : 0;
}
