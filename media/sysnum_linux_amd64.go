package media

// sendmmsg(2) on x86-64 (arch/x86/entry/syscalls/syscall_64.tbl); the
// syscall package has no constant for it.
const sysSendmmsg = 307

// recvmmsg(2) on x86-64.
const sysRecvmmsg = 299
