package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// bashCompletion asks faultline itself for the words that fit: urfave/cli
// answers a command line ending in --generate-bash-completion with the
// subcommands, or with the flags starting with the word before it.
const bashCompletion = `# bash completion for faultline; load with: source <(faultline completion bash)
_faultline_complete() {
	local cur="${COMP_WORDS[COMP_CWORD]}"
	local -a words=("${COMP_WORDS[@]:0:COMP_CWORD}")
	# A word being typed as a flag is what the flag suggestions filter by.
	[[ "$cur" == -* ]] && words+=("$cur")
	local IFS=$'\n'
	COMPREPLY=($(compgen -W "$("${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
}
complete -o default -F _faultline_complete faultline
`

// zshCompletion reuses the bash function through zsh's bashcompinit.
const zshCompletion = `#compdef faultline
# zsh completion for faultline; load with: source <(faultline completion zsh)
autoload -U +X bashcompinit && bashcompinit
` + bashCompletion

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash | zsh | fish",
		Description: `Completes commands and flags. Load it in the running shell or at login:

   bash: source <(faultline completion bash)      (or save it to ~/.local/share/bash-completion/completions/faultline)
   zsh:  source <(faultline completion zsh)       (in ~/.zshrc)
   fish: faultline completion fish > ~/.config/fish/completions/faultline.fish`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage("completion takes one shell: bash, zsh or fish")
			}
			switch sh := c.Args().First(); sh {
			case "bash":
				_, err := fmt.Fprint(c.App.Writer, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(c.App.Writer, zshCompletion)
				return err
			case "fish":
				script, err := c.App.ToFishCompletion()
				if err != nil {
					return harnessError{fmt.Errorf("fish completion: %w", err)}
				}
				_, err = fmt.Fprint(c.App.Writer, script)
				return err
			default:
				msg := fmt.Sprintf("completion: unknown shell %q", sh)
				if s, ok := closest(sh, []string{"bash", "zsh", "fish"}); ok {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				return usage("%s (bash, zsh or fish)", msg)
			}
		},
	}
}

// helpCommand is `faultline help [COMMAND [SUBCOMMAND]]`, which git, go and
// Jepsen users type; urfave/cli's own help command exits the process on an
// unknown topic, which this one reports as a usage error instead.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the help of faultline or of a command (faultline help run)",
		ArgsUsage: "[COMMAND [SUBCOMMAND]]",
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				return cli.ShowAppHelp(c)
			}
			cmds := c.App.Commands
			for i, a := range args {
				var found *cli.Command
				for _, cmd := range cmds {
					if cmd.HasName(a) {
						found = cmd
					}
				}
				if found == nil {
					msg := fmt.Sprintf("help: no command %q", strings.Join(args[:i+1], " "))
					if s, ok := closest(a, commandNames(cmds)); ok {
						msg += fmt.Sprintf("; did you mean %q?", s)
					}
					return usage("%s", msg)
				}
				cmds = found.Subcommands
			}
			// The command's own --help, which knows its flags and subcommands.
			return c.App.RunContext(c.Context, append(append([]string{c.App.Name}, args...), "--help"))
		},
	}
}
