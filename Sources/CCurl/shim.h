#ifndef SECRETFS_CCURL_SHIM_H
#define SECRETFS_CCURL_SHIM_H
#include <curl/curl.h>

// curl_easy_setopt is variadic; Swift cannot call variadic C functions, so one typed entry per argument kind.
static inline CURLcode secretfs_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
// Pointer-valued options (strings, lists, user data).
static inline CURLcode secretfs_curl_setopt_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
// 64-bit size options.
static inline CURLcode secretfs_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
// Callback options: a function pointer cannot pass through void* portably.
static inline CURLcode secretfs_curl_setopt_write(CURL *h, CURLoption o, size_t (*f)(char *, size_t, size_t, void *)) { return curl_easy_setopt(h, o, f); }
// curl_easy_getinfo is variadic too.
static inline CURLcode secretfs_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
// Shared-handle options are variadic.
static inline CURLSHcode secretfs_curl_share_setopt_long(CURLSH *s, CURLSHoption o, long v) { return curl_share_setopt(s, o, v); }
static inline CURLSHcode secretfs_curl_share_setopt_ptr(CURLSH *s, CURLSHoption o, const void *v) { return curl_share_setopt(s, o, v); }
#endif
