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
// A share handle used from many threads needs C lock callbacks, installed through variadic curl_share_setopt.
#include <pthread.h>
#include <stdlib.h>
static inline void secretfs_curl_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u) {
    (void)h; (void)a; pthread_mutex_lock(&((pthread_mutex_t *)u)[d]);
}
static inline void secretfs_curl_unlock(CURL *h, curl_lock_data d, void *u) {
    (void)h; pthread_mutex_unlock(&((pthread_mutex_t *)u)[d]);
}
// The mutexes live as long as the process: the share handle is made once per client and clients are long-lived.
static inline CURLSH *secretfs_curl_share_create(void) {
    pthread_mutex_t *locks = calloc(CURL_LOCK_DATA_LAST, sizeof(pthread_mutex_t));
    if (!locks) return NULL;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&locks[i], NULL);
    CURLSH *share = curl_share_init();
    if (!share) { free(locks); return NULL; }
    curl_share_setopt(share, CURLSHOPT_USERDATA, locks);
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, secretfs_curl_lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, secretfs_curl_unlock);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    return share;
}
#endif
