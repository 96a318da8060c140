/* A library that does one thing when preloaded: start one thread that never
 * runs. A process with a second thread makes glibc take its multi-threaded
 * paths (malloc arena locks, calloc, the cancellation points of read/write),
 * whoever started the thread; the bench's "thread" variant preloads this to
 * tell that cost apart from the shim's own code.
 * BUILD: shared  (run.py builds it with -shared -fPIC -pthread) */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

__attribute__((constructor)) static void idle_thread_start(void)
{
	pthread_t t;
	pthread_attr_t attr;
	sigset_t all, old;

	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	/* as the shim's exporter thread: every signal blocked, so signals
	 * still go to the application's threads */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_create(&t, &attr, idle, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
}
