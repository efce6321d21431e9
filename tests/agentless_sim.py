"""A simulated Cisco IOS device for agentless tests, on paramiko's server side.

It behaves as IOS does over SSH: optional Username/Password prompts inside the shell, a
``R1>`` prompt, ``enable`` with a password to ``R1#``, ``terminal length 0``, a ``--More--``
pager after every page of ``show running-config`` unless paging was turned off, and a
configuration whose clock lines change on every call. ``hang_on_show`` makes it go silent
in the middle of the configuration, as a wedged device does; ``flood_on_show`` makes it
print configuration lines without end and never a prompt.
"""

from __future__ import annotations

import socket
import threading
import time

import paramiko

PAGE = 20


class Device:
    def __init__(self, *, user: str = "admin", password: str = "cisco", enable: str = "class",
                 login_in_shell: bool = False, hostname: str = "R1"):
        self.user = user
        self.password = password
        self.enable = enable
        self.login_in_shell = login_in_shell  # SSH "none" auth, then IOS asks in the shell
        self.hostname = hostname
        self.host_key: paramiko.PKey = paramiko.ECDSAKey.generate()
        self.hang_on_show = False
        self.flood_on_show = False
        self.config_lines = [f"hostname {hostname}", "!", "interface GigabitEthernet0/0",
                             " ip address 192.0.2.1 255.255.255.0", " no shutdown", "!"]
        self.config_lines += [f"access-list 10 permit 198.51.100.{n}" for n in range(40)]
        self.config_lines += ["!", "line vty 0 4", " transport input ssh", "!", "end"]
        self.shows = 0
        self.paged = 0  # how many --More-- prompts were shown
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._transports: list[paramiko.Transport] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self._sock.close()
        for transport in self._transports:
            transport.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            self._transports.append(transport)
            server = _Server(self)
            try:
                transport.start_server(server=server)
            except (paramiko.SSHException, EOFError, OSError):
                continue
            threading.Thread(target=self._session, args=(transport, server), daemon=True).start()

    def _session(self, transport: paramiko.Transport, server: "_Server") -> None:
        channel = transport.accept(10)
        if channel is None or not server.shell.wait(10):
            return
        try:
            _Shell(self, channel).run()
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            try:
                channel.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass

    def running_config(self) -> list[str]:
        self.shows += 1
        stamp = time.strftime("%H:%M:%S UTC %a %b %d %Y", time.gmtime(1_790_000_000 + self.shows * 61))
        return ["Building configuration...", "",
                f"Current configuration : {sum(map(len, self.config_lines)) + self.shows} bytes",
                "!", f"! Last configuration change at {stamp} by admin",
                f"! NVRAM config last updated at {stamp} by admin", "version 15.2",
                f"ntp clock-period 17208{self.shows:03d}", *self.config_lines]


class _Server(paramiko.ServerInterface):
    def __init__(self, device: Device):
        self.device = device
        self.shell = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "none" if self.device.login_in_shell else "password"

    def check_auth_none(self, username: str) -> int:
        return paramiko.AUTH_SUCCESSFUL if self.device.login_in_shell else paramiko.AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        ok = username == self.device.user and password == self.device.password
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else \
            paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, *args) -> bool:
        return True

    def check_channel_shell_request(self, channel) -> bool:
        self.shell.set()
        return True


class _Shell:
    def __init__(self, device: Device, channel: paramiko.Channel):
        self.device = device
        self.channel = channel
        self.pending = b""
        self.paging = True
        self.privileged = False

    def write(self, text: str) -> None:
        self.channel.sendall(text.encode())

    def read_line(self, echo: bool = True) -> str:
        """One typed line, echoed as a terminal would (passwords are not)."""
        while True:
            for end in (b"\r", b"\n"):
                if end in self.pending:
                    line, _, self.pending = self.pending.partition(end)
                    if end == b"\r" and self.pending.startswith(b"\n"):
                        self.pending = self.pending[1:]
                    if echo:
                        self.write(line.decode() + "\r\n")
                    else:
                        self.write("\r\n")
                    return line.decode()
            data = self.channel.recv(1024)
            if not data:
                raise EOFError
            self.pending += data

    def read_char(self) -> str:
        while not self.pending:
            data = self.channel.recv(1024)
            if not data:
                raise EOFError
            self.pending += data
        char, self.pending = self.pending[:1], self.pending[1:]
        return char.decode()

    def prompt(self) -> str:
        return f"\r\n{self.device.hostname}{'#' if self.privileged else '>'}"

    def run(self) -> None:
        device = self.device
        if device.login_in_shell:
            self.write("\r\nUser Access Verification\r\n\r\n")
            while True:
                self.write("Username: ")
                user = self.read_line()
                self.write("Password: ")
                password = self.read_line(echo=False)
                if user == device.user and password == device.password:
                    break
                self.write("% Login invalid\r\n\r\n")
        self.write(self.prompt())
        while True:
            command = self.read_line().strip()
            if command in ("exit", "quit", "logout"):
                return
            self.command(command)
            self.write(self.prompt())

    def command(self, command: str) -> None:
        if command == "":
            return
        if command == "enable":
            for _ in range(3):
                self.write("Password: ")
                if self.read_line(echo=False) == self.device.enable:
                    self.privileged = True
                    return
            self.write("% Bad secrets\r\n")
            return
        if command == "terminal length 0":
            self.paging = False
            return
        if command.startswith("show run") and self.privileged:
            self.show_config()
            return
        self.write("                ^\r\n% Invalid input detected at '^' marker.\r\n")

    def show_config(self) -> None:
        while self.device.flood_on_show:  # until the client gives up and closes
            self.write("access-list 10 permit 198.51.100.1\r\n" * 1000)
        lines = self.device.running_config()
        for number, line in enumerate(lines, start=1):
            if self.device.hang_on_show and number == 5:
                time.sleep(3600)
            self.write(line + "\r\n")
            if self.paging and number % PAGE == 0 and number < len(lines):
                self.device.paged += 1
                self.write(" --More-- ")
                if self.read_char() in "qQ":
                    return
                self.write("\b" * 10 + " " * 10 + "\b" * 10)
