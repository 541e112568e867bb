# deploy/install.mk - `make install` and `make uninstall` (included by the
# root Makefile).
#
#   make install [PREFIX=/usr/local] [DESTDIR=/staging]
#   make uninstall [PREFIX=...] [DESTDIR=...]
#
# Layout (PREFIX=/usr/local):
#   /usr/local/sbin/ksd                            the program
#   /usr/local/share/ksd/kaspersky.rules           signatures (ksd's default -s)
#   /usr/local/share/ksd/ksd.conf.example          pristine sample configuration
#   /usr/local/share/ksd/ksd-redis.conf            sample Redis configuration
#   /usr/local/share/ksd/ksd-stunnel.conf          sample TLS tunnel to a central Redis
#   /etc/ksd/ksd.conf                              configuration (only if absent)
#   /usr/local/lib/systemd/system/ksd.service      unit (/lib/systemd/system for PREFIX=/usr)
#   /usr/local/lib/systemd/system/ksd-stunnel.service  the tunnel's unit (ordered before ksd)
#   /usr/local/lib/sysusers.d/ksd.conf             the "ksd" system user
#   /etc/logrotate.d/ksd                           rotation of /var/log/ksd (SIGHUP reopens)
#   /usr/local/share/man/man8/ksd.8, man5/ksd.rules.5
#
# The binary's default signature path is compiled in (KSD_DEFAULT_RULES in
# sensor/config.c); for another PREFIX it is set here, so the build and the
# installed layout agree (the flag change rebuilds the objects). Paths in the
# unit, the sample configuration and the man pages are rewritten for PREFIX.
# Uninstall keeps /etc/ksd/ksd.conf when it differs from the shipped sample.
# Without DESTDIR, as root, install also runs systemd-sysusers to create the
# ksd user.

PREFIX     ?= /usr/local
DESTDIR    ?=
SYSCONFDIR ?= /etc
INSTALL    ?= install
SBINDIR    ?= $(PREFIX)/sbin
KSD_DATADIR ?= $(PREFIX)/share/ksd
MANDIR     ?= $(PREFIX)/share/man
ifeq ($(PREFIX),/usr)
  UNITDIR     ?= /lib/systemd/system
  SYSUSERSDIR ?= /usr/lib/sysusers.d
else
  UNITDIR     ?= $(PREFIX)/lib/systemd/system
  SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
endif

ifneq ($(PREFIX),/usr/local)
  CPPFLAGS += -DKSD_DEFAULT_RULES='"$(KSD_DATADIR)/kaspersky.rules"'
endif

# Rewrite the /usr/local paths of the shipped text files for PREFIX.
KSD_SUBST = sed -e 's|/usr/local/share/ksd|$(KSD_DATADIR)|g' -e 's|/usr/local/sbin|$(SBINDIR)|g' \
                -e 's|/usr/local/lib/systemd/system|$(UNITDIR)|g' \
                -e 's|/usr/local/lib/sysusers.d|$(SYSUSERSDIR)|g' -e 's|/etc/ksd|$(SYSCONFDIR)/ksd|g'

KSD_INSTALLED = $(SBINDIR)/ksd $(KSD_DATADIR)/kaspersky.rules $(KSD_DATADIR)/ksd.conf.example \
                $(KSD_DATADIR)/ksd-redis.conf $(KSD_DATADIR)/ksd-stunnel.conf \
                $(UNITDIR)/ksd.service $(UNITDIR)/ksd-stunnel.service $(SYSUSERSDIR)/ksd.conf \
                $(MANDIR)/man8/ksd.8 $(MANDIR)/man5/ksd.rules.5 $(SYSCONFDIR)/logrotate.d/ksd

install: $(KSD_BIN)
	$(Q)$(INSTALL) -d -m 0755 '$(DESTDIR)$(SBINDIR)' '$(DESTDIR)$(KSD_DATADIR)' \
	  '$(DESTDIR)$(SYSCONFDIR)/ksd' '$(DESTDIR)$(UNITDIR)' '$(DESTDIR)$(SYSUSERSDIR)' \
	  '$(DESTDIR)$(MANDIR)/man8' '$(DESTDIR)$(MANDIR)/man5' '$(DESTDIR)$(SYSCONFDIR)/logrotate.d'
	$(call say,INSTALL,$(DESTDIR)$(SBINDIR)/ksd)
	$(Q)$(INSTALL) -m 0755 $(KSD_BIN) '$(DESTDIR)$(SBINDIR)/ksd'
	$(call say,INSTALL,$(DESTDIR)$(KSD_DATADIR))
	$(Q)$(INSTALL) -m 0644 signatures/kaspersky.rules '$(DESTDIR)$(KSD_DATADIR)/kaspersky.rules'
	$(Q)$(INSTALL) -m 0644 deploy/ksd-redis.conf '$(DESTDIR)$(KSD_DATADIR)/ksd-redis.conf'
	$(Q)$(KSD_SUBST) deploy/ksd.conf >'$(DESTDIR)$(KSD_DATADIR)/ksd.conf.example.tmp' && \
	  $(INSTALL) -m 0644 '$(DESTDIR)$(KSD_DATADIR)/ksd.conf.example.tmp' \
	    '$(DESTDIR)$(KSD_DATADIR)/ksd.conf.example' && \
	  rm -f '$(DESTDIR)$(KSD_DATADIR)/ksd.conf.example.tmp'
	$(Q)if [ -e '$(DESTDIR)$(SYSCONFDIR)/ksd/ksd.conf' ]; then \
	  echo "  KEEP   $(DESTDIR)$(SYSCONFDIR)/ksd/ksd.conf (exists; new sample in $(KSD_DATADIR))"; \
	else \
	  printf '  %-6s %s\n' INSTALL '$(DESTDIR)$(SYSCONFDIR)/ksd/ksd.conf'; \
	  $(INSTALL) -m 0644 '$(DESTDIR)$(KSD_DATADIR)/ksd.conf.example' \
	    '$(DESTDIR)$(SYSCONFDIR)/ksd/ksd.conf'; \
	fi
	$(call say,INSTALL,$(DESTDIR)$(UNITDIR)/ksd.service)
	$(Q)$(KSD_SUBST) deploy/ksd.service >'$(DESTDIR)$(UNITDIR)/ksd.service.tmp' && \
	  $(INSTALL) -m 0644 '$(DESTDIR)$(UNITDIR)/ksd.service.tmp' '$(DESTDIR)$(UNITDIR)/ksd.service' && \
	  rm -f '$(DESTDIR)$(UNITDIR)/ksd.service.tmp'
	$(Q)for f in '$(KSD_DATADIR)/ksd-stunnel.conf:deploy/ksd-stunnel.conf' \
	  '$(UNITDIR)/ksd-stunnel.service:deploy/ksd-stunnel.service'; do \
	  dst="$(DESTDIR)$${f%%:*}"; $(KSD_SUBST) "$${f#*:}" >"$$dst.tmp" && \
	  $(INSTALL) -m 0644 "$$dst.tmp" "$$dst" && rm -f "$$dst.tmp" || exit 1; done
	$(Q)$(INSTALL) -m 0644 deploy/ksd-sysusers.conf '$(DESTDIR)$(SYSUSERSDIR)/ksd.conf'
	$(call say,INSTALL,$(DESTDIR)$(SYSCONFDIR)/logrotate.d/ksd)
	$(Q)$(INSTALL) -m 0644 deploy/logrotate.d/ksd '$(DESTDIR)$(SYSCONFDIR)/logrotate.d/ksd'
	$(call say,INSTALL,$(DESTDIR)$(MANDIR))
	$(Q)$(KSD_SUBST) docs/ksd.8 >'$(DESTDIR)$(MANDIR)/man8/ksd.8.tmp' && \
	  $(INSTALL) -m 0644 '$(DESTDIR)$(MANDIR)/man8/ksd.8.tmp' '$(DESTDIR)$(MANDIR)/man8/ksd.8' && \
	  rm -f '$(DESTDIR)$(MANDIR)/man8/ksd.8.tmp'
	$(Q)$(KSD_SUBST) docs/ksd.rules.5 >'$(DESTDIR)$(MANDIR)/man5/ksd.rules.5.tmp' && \
	  $(INSTALL) -m 0644 '$(DESTDIR)$(MANDIR)/man5/ksd.rules.5.tmp' \
	    '$(DESTDIR)$(MANDIR)/man5/ksd.rules.5' && \
	  rm -f '$(DESTDIR)$(MANDIR)/man5/ksd.rules.5.tmp'
	$(Q)if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" -eq 0 ] && command -v systemd-sysusers >/dev/null; then \
	  systemd-sysusers '$(SYSUSERSDIR)/ksd.conf' || echo "  WARN   systemd-sysusers failed; create user ksd by hand"; \
	fi
	@echo "  DONE   edit $(SYSCONFDIR)/ksd/ksd.conf, then: systemctl daemon-reload && systemctl enable --now ksd"

uninstall:
	$(Q)conf='$(DESTDIR)$(SYSCONFDIR)/ksd/ksd.conf'; ex='$(DESTDIR)$(KSD_DATADIR)/ksd.conf.example'; \
	if [ -e "$$conf" ]; then \
	  if [ -e "$$ex" ] && cmp -s "$$conf" "$$ex"; then \
	    printf '  %-6s %s\n' RM "$$conf"; rm -f "$$conf"; \
	    rmdir '$(DESTDIR)$(SYSCONFDIR)/ksd' 2>/dev/null || true; \
	  else \
	    echo "  KEEP   $$conf (modified; remove it by hand)"; \
	  fi; \
	fi
	$(Q)for f in $(KSD_INSTALLED); do \
	  if [ -e "$(DESTDIR)$$f" ]; then printf '  %-6s %s\n' RM "$(DESTDIR)$$f"; rm -f "$(DESTDIR)$$f"; fi; \
	done
	$(Q)rmdir '$(DESTDIR)$(KSD_DATADIR)' 2>/dev/null || true
	$(Q)rmdir '$(DESTDIR)$(SYSCONFDIR)/logrotate.d' 2>/dev/null || true
