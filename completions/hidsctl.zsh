#compdef hidsctl

_hidsctl_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _HIDSCTL_COMPLETE=complete_zsh hidsctl)
}

compdef _hidsctl_completion hidsctl

if [[ ${funcstack[1]} == _hidsctl ]]; then
  _hidsctl_completion "$@"
fi
