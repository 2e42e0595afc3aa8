package media

// sendmmsg(2) on arm64 (include/uapi/asm-generic/unistd.h); the syscall
// package has no constant for it.
const sysSendmmsg = 269

// recvmmsg(2) on arm64.
const sysRecvmmsg = 243
