/*
 * Sign-up and password-reset codes, invitations and the SMS command; see
 * signup.h.
 */
#include "server/signup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <sodium.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/hash.h"

int signup_email_validate(const char *email)
{
	const char *at = strchr(email, '@');
	size_t n = strlen(email);

	if (n == 0 || n > SIGNUP_EMAIL_MAX || !at || at == email || !at[1] ||
	    strchr(at + 1, '@'))
		return err_set(
			-EINVAL,
			"e-mail address must be one NAME@DOMAIN, at most %d bytes",
			SIGNUP_EMAIL_MAX);
	for (const unsigned char *p = (const unsigned char *)email; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return err_set(
				-EINVAL,
				"e-mail address must hold no blank or control character");
	return 0;
}

void signup_code_new(char code[7])
{
	/* uniform over 000000..999999: no modulo bias */
	snprintf(code, 7, "%06u", (unsigned)randombytes_uniform(1000000));
}

static void code_hash(const char *salt, const char *code,
		      char hex[INDEX_HASH_HEX])
{
	char text[sizeof(((struct index_code *)0)->salt) + 8];
	struct obj_id id;

	snprintf(text, sizeof(text), "%s:%s", salt, code);
	hash_buf(&id, text, strlen(text));
	obj_id_to_hex(&id, hex);
	sodium_memzero(text, sizeof(text));
}

void signup_code_seal(struct index_code *c, const char *code)
{
	uint8_t salt[16];

	crypto_random(salt, sizeof(salt));
	sodium_bin2hex(c->salt, sizeof(c->salt), salt, sizeof(salt));
	code_hash(c->salt, code, c->code_hash);
}

int signup_code_matches(const struct index_code *c, const char *code)
{
	char hex[INDEX_HASH_HEX];

	if (strlen(code) != 6 || strspn(code, "0123456789") != 6)
		return 0;
	code_hash(c->salt, code, hex);
	return strlen(c->code_hash) == strlen(hex) &&
	       sodium_memcmp(hex, c->code_hash, strlen(hex)) == 0;
}

/* In the child, before exec: only async-signal-safe calls. */
static void child_exec(const char *command, const char *number, int in)
{
	char *const argv[] = { (char *)command, (char *)number, NULL };
	int null = open("/dev/null", O_RDWR);

	if (null < 0 || dup2(in, 0) < 0 || dup2(null, 1) < 0 ||
	    dup2(null, 2) < 0)
		_exit(126);
	close_range(3, ~0U, 0);
	/* kept across exec: a command that hangs dies of SIGALRM, also when
	 * nobody waits for it */
	alarm(SIGNUP_SMS_TIMEOUT_S + 1);
	execv(command, argv);
	_exit(127);
}

/* Wait up to SIGNUP_SMS_TIMEOUT_S for pid; killed past it. */
static int reap(pid_t pid, const char *command)
{
	struct timespec start, now;
	int status = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return err_set(-EIO, "sms_command: %s",
				       strerror(errno));
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= SIGNUP_SMS_TIMEOUT_S) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return err_set(-EIO,
				       "sms_command '%s' took more than %d s",
				       command, SIGNUP_SMS_TIMEOUT_S);
		}
		poll(NULL, 0, 20);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return err_set(-EIO, "sms_command '%s' could not be run",
			       command);
	if (WIFEXITED(status))
		return err_set(-EIO, "sms_command '%s' failed (exit status %d)",
			       command, WEXITSTATUS(status));
	return err_set(-EIO, "sms_command '%s' was killed by signal %d",
		       command, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int signup_sms_send(const char *command, const char *number, const char *text,
		    int wait)
{
	int p[2];
	pid_t pid;
	ssize_t w;
	int rc = 0;

	if (!command[0])
		return err_set(-ENOSYS,
			       "this server sends no SMS (sms_command)");
	if (access(command, X_OK) < 0)
		return err_set(-EIO, "sms_command '%s': %s", command,
			       strerror(errno));
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(-EIO, "pipe: %s", strerror(errno));
	/* The text is a few dozen bytes: it fits in the pipe before the
	 * command reads, so nothing here waits on the command. */
	w = write(p[1], text, strlen(text));
	close(p[1]);
	if (w != (ssize_t)strlen(text)) {
		close(p[0]);
		return err_set(-EIO, "cannot hand the text to sms_command");
	}
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		return err_set(-EIO, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		if (!wait) {
			/* a grandchild init reaps: nobody waits for it */
			pid_t g = fork();

			if (g != 0)
				_exit(g < 0 ? 126 : 0);
		}
		child_exec(command, number, p[0]);
	}
	close(p[0]);
	if (wait) {
		rc = reap(pid, command);
	} else {
		int status;

		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = err_set(-EIO, "cannot start sms_command '%s'",
				     command);
	}
	return rc;
}

/* Upper case, dashes and blanks dropped: how an invitation is typed. */
static void invite_canonical(const char *code, char *out, size_t cap)
{
	size_t n = 0;

	for (; *code && n + 1 < cap; code++) {
		if (*code == '-' || *code == ' ')
			continue;
		out[n++] = (*code >= 'a' && *code <= 'z') ?
				   (char)(*code - 'a' + 'A') :
				   *code;
	}
	out[n] = '\0';
}

void signup_invite_hash(const char *code, char hex[INDEX_HASH_HEX])
{
	char canon[128];
	struct obj_id id;

	invite_canonical(code, canon, sizeof(canon));
	hash_buf(&id, canon, strlen(canon));
	obj_id_to_hex(&id, hex);
}

int signup_invite_new(struct index *ix, unsigned days,
		      char code[SIGNUP_INVITE_LEN + 1])
{
	/* no 0/O, 1/I/L, U: read aloud or copied by hand without doubt */
	static const char alphabet[] = "ABCDEFGHJKMNPQRSTVWXYZ23456789";
	char hex[INDEX_HASH_HEX];
	size_t n = 0;

	if (days < 1 || days > 365)
		return err_set(-EINVAL, "an invitation lasts 1 to 365 days");
	for (int g = 0; g < 5; g++) {
		for (int i = 0; i < 4; i++)
			code[n++] = alphabet[randombytes_uniform(
				sizeof(alphabet) - 1)];
		if (g < 4)
			code[n++] = '-';
	}
	code[n] = '\0';
	signup_invite_hash(code, hex);
	return index_signup_invite_put(
		ix, hex, (int64_t)time(NULL) + (int64_t)days * 86400);
}

void signup_phone_masked(const char *phone, char *out, size_t cap)
{
	size_t n = strlen(phone), i, o = 0;

	for (i = 0; i < n && o + 4 < cap; i++) {
		/* "+CC" and the last two digits shown */
		if (i < 3 || i + 2 >= n) {
			out[o++] = phone[i];
		} else {
			memcpy(out + o, "\xe2\x80\xa2", 3); /* U+2022 */
			o += 3;
		}
	}
	out[o] = '\0';
}
