from django.http import HttpResponse

from .models import Note

VERSION = "1"


def index(request):
    return HttpResponse(f"django notes v{VERSION}: {Note.objects.count()} notes")


def healthz(request):
    return HttpResponse("ok")


def scheme(request):
    return HttpResponse("https" if request.is_secure() else "http")
