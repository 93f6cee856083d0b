/* Prints the effective uid: installed setuid root, it shows whether execve honoured the bit. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("%u\n", (unsigned)geteuid());
	return 0;
}
